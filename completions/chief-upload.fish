complete -c chief-upload -l name -d 'With \'-\': the file name for standard input\'s content' -r
complete -c chief-upload -l mime-type -d 'Send TYPE as the media type instead of the detected one' -r
complete -c chief-upload -l files-from -d 'Read more paths from FILE, one per line (\'-\' = stdin)' -r -F
complete -c chief-upload -l include -d 'Upload only files matching GLOB (repeatable)' -r
complete -c chief-upload -l exclude -d 'Skip files and directories matching GLOB (repeatable)' -r
complete -c chief-upload -l include-from -d 'Read --include globs from FILE, one per line (repeatable)' -r -F
complete -c chief-upload -l exclude-from -d 'Read --exclude globs from FILE, one per line (repeatable)' -r -F
complete -c chief-upload -l min-size -d 'Skip files smaller than SIZE (e.g. 1K; powers of 1024)' -r
complete -c chief-upload -l max-size -d 'Skip files larger than SIZE (e.g. 2G; powers of 1024)' -r
complete -c chief-upload -l min-age -d 'Skip files modified less than DURATION ago (e.g. 15m)' -r
complete -c chief-upload -l max-age -d 'Skip files modified more than DURATION ago (e.g. 7d)' -r
complete -c chief-upload -l shard -d 'Take only shard K of N of the files [env: CHIEF_SHARD]' -r
complete -c chief-upload -l if-no-files -d 'When no file is found: warn, error (exit 1) or ignore' -r -f -a "warn\t''
error\t''
ignore\t''"
complete -c chief-upload -l rescan-interval -d 'With --watch: rescan this often without file events [default: 60s]' -r
complete -c chief-upload -l project -d 'Project id [env: CHIEF_PROJECT_ID]' -r
complete -c chief-upload -l api-key-file -d 'Read the API token from FILE (\'-\' = stdin) [or CHIEF_API_KEY=TOKEN]' -r -F
complete -c chief-upload -l api-url -d 'Base URL of the Chief API [env: CHIEF_API_URL]' -r
complete -c chief-upload -l ca-cert -d 'Also trust the CAs in FILE (PEM) [env: CHIEF_CA_CERT]' -r -F
complete -c chief-upload -l config -d 'Config file [env: CHIEF_CONFIG]' -r -F
complete -c chief-upload -l profile -d 'Config file profile [env: CHIEF_PROFILE]' -r
complete -c chief-upload -l report -d 'Write the JSON lines to FILE as well' -r -F
complete -c chief-upload -l junit -d 'Write a JUnit XML report to FILE (one test case per file)' -r -F
complete -c chief-upload -l ci -d 'CI integration: auto, github, gitlab, off [env: CHIEF_CI]' -r -f -a "auto\t''
github\t''
gitlab\t''
off\t''"
complete -c chief-upload -l color -d 'Colour on stderr: auto, always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c chief-upload -s j -l jobs -d 'Files in flight: auto (adapts) or a number [default: auto]' -r
complete -c chief-upload -l bwlimit -d 'Cap the upload rate, e.g. 20M (bytes/s; K, M, G; 0 or off: none)' -r
complete -c chief-upload -l retries -d 'Retries for a transient failure (network error, timeout, 408, 429, 5xx) of one request, with capped exponential backoff and jitter' -r
complete -c chief-upload -l timeout -d 'Give up on a connection that sends or receives nothing for DURATION' -r
complete -c chief-upload -l max-outage -d 'Longest outage to wait for [default: 5m] [env: CHIEF_MAX_OUTAGE]' -r
complete -c chief-upload -l progress-interval -d 'When stderr is not a terminal (CI logs), print a progress line (files by outcome, bytes, rate, elapsed) every DURATION while the run goes on (30s, 5m; a plain number counts seconds), or every sixtieth of the time elapsed when that is longer, so that a long run\'s log stays short. 0 turns it off' -r
complete -c chief-upload -l completions -d 'Print a shell completion script to stdout' -r -f -a "bash\t''
elvish\t''
fish\t''
powershell\t''
zsh\t''"
complete -c chief-upload -l retry-base-ms -d 'First retry delay in milliseconds (doubles each attempt, capped). For tests and impatient networks' -r
complete -c chief-upload -l retry-max-delay -d 'Longest wait between retries, also the cap on a server\'s Retry-After (a DURATION; a plain number counts seconds)' -r
complete -c chief-upload -s 0 -l null -d 'With --files-from: paths are NUL-separated'
complete -c chief-upload -s L -l follow -d 'Follow symlinked directories'
complete -c chief-upload -l watch -d 'Keep uploading new and changed files until stopped'
complete -c chief-upload -l poll -d 'With --watch: do not use the platform\'s file events; rescan the PATHs every --rescan-interval (for file systems whose events are unreliable)'
complete -c chief-upload -s n -l dry-run -d 'Show what would be uploaded; no network'
complete -c chief-upload -l json -d 'NDJSON results on stdout'
complete -c chief-upload -s q -l quiet -d 'Only errors and the summary'
complete -c chief-upload -s v -l verbose -d 'Also print each request and retry'
complete -c chief-upload -l show-config -d 'Show effective settings and their sources'
complete -c chief-upload -l no-cache -d 'Do not use or update the hash cache (MD5s remembered by file identity and mtime)'
complete -c chief-upload -l man -d 'Print the man page (roff) to stdout'
complete -c chief-upload -s h -l help -d 'Print help (see more with \'--help\')'
complete -c chief-upload -s V -l version -d 'Print version'
