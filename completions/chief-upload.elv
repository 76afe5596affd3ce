
use builtin;
use str;

set edit:completion:arg-completer[chief-upload] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'chief-upload'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'chief-upload'= {
            cand --name 'With ''-'': the file name for standard input''s content'
            cand --mime-type 'Send TYPE as the media type instead of the detected one'
            cand --files-from 'Read more paths from FILE, one per line (''-'' = stdin)'
            cand --include 'Upload only files matching GLOB (repeatable)'
            cand --exclude 'Skip files and directories matching GLOB (repeatable)'
            cand --include-from 'Read --include globs from FILE, one per line (repeatable)'
            cand --exclude-from 'Read --exclude globs from FILE, one per line (repeatable)'
            cand --min-size 'Skip files smaller than SIZE (e.g. 1K; powers of 1024)'
            cand --max-size 'Skip files larger than SIZE (e.g. 2G; powers of 1024)'
            cand --min-age 'Skip files modified less than DURATION ago (e.g. 15m)'
            cand --max-age 'Skip files modified more than DURATION ago (e.g. 7d)'
            cand --shard 'Take only shard K of N of the files [env: CHIEF_SHARD]'
            cand --if-no-files 'When no file is found: warn, error (exit 1) or ignore'
            cand --rescan-interval 'With --watch: rescan this often without file events [default: 60s]'
            cand --project 'Project id [env: CHIEF_PROJECT_ID]'
            cand --api-key-file 'Read the API token from FILE (''-'' = stdin) [or CHIEF_API_KEY=TOKEN]'
            cand --api-url 'Base URL of the Chief API [env: CHIEF_API_URL]'
            cand --ca-cert 'Also trust the CAs in FILE (PEM) [env: CHIEF_CA_CERT]'
            cand --config 'Config file [env: CHIEF_CONFIG]'
            cand --profile 'Config file profile [env: CHIEF_PROFILE]'
            cand --report 'Write the JSON lines to FILE as well'
            cand --junit 'Write a JUnit XML report to FILE (one test case per file)'
            cand --ci 'CI integration: auto, github, gitlab, off [env: CHIEF_CI]'
            cand --color 'Colour on stderr: auto, always, never'
            cand -j 'Files in flight: auto (adapts) or a number [default: auto]'
            cand --jobs 'Files in flight: auto (adapts) or a number [default: auto]'
            cand --bwlimit 'Cap the upload rate, e.g. 20M (bytes/s; K, M, G; 0 or off: none)'
            cand --retries 'Retries for a transient failure (network error, timeout, 408, 429, 5xx) of one request, with capped exponential backoff and jitter'
            cand --timeout 'Give up on a connection that sends or receives nothing for DURATION'
            cand --max-outage 'Longest outage to wait for [default: 5m] [env: CHIEF_MAX_OUTAGE]'
            cand --progress-interval 'When stderr is not a terminal (CI logs), print a progress line (files by outcome, bytes, rate, elapsed) every DURATION while the run goes on (30s, 5m; a plain number counts seconds), or every sixtieth of the time elapsed when that is longer, so that a long run''s log stays short. 0 turns it off'
            cand --completions 'Print a shell completion script to stdout'
            cand --retry-base-ms 'First retry delay in milliseconds (doubles each attempt, capped). For tests and impatient networks'
            cand --retry-max-delay 'Longest wait between retries, also the cap on a server''s Retry-After (a DURATION; a plain number counts seconds)'
            cand -0 'With --files-from: paths are NUL-separated'
            cand --null 'With --files-from: paths are NUL-separated'
            cand -L 'Follow symlinked directories'
            cand --follow 'Follow symlinked directories'
            cand --watch 'Keep uploading new and changed files until stopped'
            cand --poll 'With --watch: do not use the platform''s file events; rescan the PATHs every --rescan-interval (for file systems whose events are unreliable)'
            cand -n 'Show what would be uploaded; no network'
            cand --dry-run 'Show what would be uploaded; no network'
            cand --json 'NDJSON results on stdout'
            cand -q 'Only errors and the summary'
            cand --quiet 'Only errors and the summary'
            cand -v 'Also print each request and retry'
            cand --verbose 'Also print each request and retry'
            cand --show-config 'Show effective settings and their sources'
            cand --no-cache 'Do not use or update the hash cache (MD5s remembered by file identity and mtime)'
            cand --man 'Print the man page (roff) to stdout'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
