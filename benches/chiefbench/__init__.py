"""chiefbench: chief-upload's benchmarks, as one program (`benches/bench`, or
`python3 -m benches.chiefbench` from the repository's root). benches/README.md says how
to set it up and run it, and what each group measures.

Why Python and not a Rust xtask: a benchmark row is a handful of processes started,
timed and stopped in order (a fake server with the row's flags, hyperfine, chief-upload
or a baseline, s3s-fs, rclone, the AWS CLI, a delaying proxy), then a table computed from
JSON. That is orchestration, which Python's standard library does in few lines, with no
dependency and no build before the build being measured; a Rust xtask would add a crate
to the workspace (and its compile time to every `cargo test`) for the same subprocess calls.
It needs python3 (3.9 or later) and nothing beyond its standard library.

Modules: table (the rows, as data), figures (how a row's figure and goal are computed),
measure (running a set: corpora, servers, hyperfine), soak (the --watch rows), servers,
corpus, report (results JSON and RESULTS.md), cli. helpers.py, delay_proxy.py and
curl_one.sh run as separate processes.
"""
