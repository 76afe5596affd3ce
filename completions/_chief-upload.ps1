
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'chief-upload' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'chief-upload'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'chief-upload' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'With ''-'': the file name for standard input''s content')
            [CompletionResult]::new('--mime-type', '--mime-type', [CompletionResultType]::ParameterName, 'Send TYPE as the media type instead of the detected one')
            [CompletionResult]::new('--files-from', '--files-from', [CompletionResultType]::ParameterName, 'Read more paths from FILE, one per line (''-'' = stdin)')
            [CompletionResult]::new('--include', '--include', [CompletionResultType]::ParameterName, 'Upload only files matching GLOB (repeatable)')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'Skip files and directories matching GLOB (repeatable)')
            [CompletionResult]::new('--include-from', '--include-from', [CompletionResultType]::ParameterName, 'Read --include globs from FILE, one per line (repeatable)')
            [CompletionResult]::new('--exclude-from', '--exclude-from', [CompletionResultType]::ParameterName, 'Read --exclude globs from FILE, one per line (repeatable)')
            [CompletionResult]::new('--min-size', '--min-size', [CompletionResultType]::ParameterName, 'Skip files smaller than SIZE (e.g. 1K; powers of 1024)')
            [CompletionResult]::new('--max-size', '--max-size', [CompletionResultType]::ParameterName, 'Skip files larger than SIZE (e.g. 2G; powers of 1024)')
            [CompletionResult]::new('--min-age', '--min-age', [CompletionResultType]::ParameterName, 'Skip files modified less than DURATION ago (e.g. 15m)')
            [CompletionResult]::new('--max-age', '--max-age', [CompletionResultType]::ParameterName, 'Skip files modified more than DURATION ago (e.g. 7d)')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Take only shard K of N of the files [env: CHIEF_SHARD]')
            [CompletionResult]::new('--if-no-files', '--if-no-files', [CompletionResultType]::ParameterName, 'When no file is found: warn, error (exit 1) or ignore')
            [CompletionResult]::new('--rescan-interval', '--rescan-interval', [CompletionResultType]::ParameterName, 'With --watch: rescan this often without file events [default: 60s]')
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'Project id [env: CHIEF_PROJECT_ID]')
            [CompletionResult]::new('--api-key-file', '--api-key-file', [CompletionResultType]::ParameterName, 'Read the API token from FILE (''-'' = stdin) [or CHIEF_API_KEY=TOKEN]')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'Base URL of the Chief API [env: CHIEF_API_URL]')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust the CAs in FILE (PEM) [env: CHIEF_CA_CERT]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [env: CHIEF_CONFIG]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Config file profile [env: CHIEF_PROFILE]')
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Write the JSON lines to FILE as well')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Write a JUnit XML report to FILE (one test case per file)')
            [CompletionResult]::new('--ci', '--ci', [CompletionResultType]::ParameterName, 'CI integration: auto, github, gitlab, off [env: CHIEF_CI]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour on stderr: auto, always, never')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Files in flight: auto (adapts) or a number [default: auto]')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Files in flight: auto (adapts) or a number [default: auto]')
            [CompletionResult]::new('--bwlimit', '--bwlimit', [CompletionResultType]::ParameterName, 'Cap the upload rate, e.g. 20M (bytes/s; K, M, G; 0 or off: none)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries for a transient failure (network error, timeout, 408, 429, 5xx) of one request, with capped exponential backoff and jitter')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up on a connection that sends or receives nothing for DURATION')
            [CompletionResult]::new('--max-outage', '--max-outage', [CompletionResultType]::ParameterName, 'Longest outage to wait for [default: 5m] [env: CHIEF_MAX_OUTAGE]')
            [CompletionResult]::new('--progress-interval', '--progress-interval', [CompletionResultType]::ParameterName, 'When stderr is not a terminal (CI logs), print a progress line (files by outcome, bytes, rate, elapsed) every DURATION while the run goes on (30s, 5m; a plain number counts seconds), or every sixtieth of the time elapsed when that is longer, so that a long run''s log stays short. 0 turns it off')
            [CompletionResult]::new('--completions', '--completions', [CompletionResultType]::ParameterName, 'Print a shell completion script to stdout')
            [CompletionResult]::new('--retry-base-ms', '--retry-base-ms', [CompletionResultType]::ParameterName, 'First retry delay in milliseconds (doubles each attempt, capped). For tests and impatient networks')
            [CompletionResult]::new('--retry-max-delay', '--retry-max-delay', [CompletionResultType]::ParameterName, 'Longest wait between retries, also the cap on a server''s Retry-After (a DURATION; a plain number counts seconds)')
            [CompletionResult]::new('-0', '-0', [CompletionResultType]::ParameterName, 'With --files-from: paths are NUL-separated')
            [CompletionResult]::new('--null', '--null', [CompletionResultType]::ParameterName, 'With --files-from: paths are NUL-separated')
            [CompletionResult]::new('-L', '-L ', [CompletionResultType]::ParameterName, 'Follow symlinked directories')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Follow symlinked directories')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Keep uploading new and changed files until stopped')
            [CompletionResult]::new('--poll', '--poll', [CompletionResultType]::ParameterName, 'With --watch: do not use the platform''s file events; rescan the PATHs every --rescan-interval (for file systems whose events are unreliable)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show what would be uploaded; no network')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be uploaded; no network')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'NDJSON results on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors and the summary')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors and the summary')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also print each request and retry')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also print each request and retry')
            [CompletionResult]::new('--show-config', '--show-config', [CompletionResultType]::ParameterName, 'Show effective settings and their sources')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Do not use or update the hash cache (MD5s remembered by file identity and mtime)')
            [CompletionResult]::new('--man', '--man', [CompletionResultType]::ParameterName, 'Print the man page (roff) to stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
