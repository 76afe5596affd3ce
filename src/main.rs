use std::process::ExitCode;

fn main() -> ExitCode {
    chief_upload::run(
        std::env::args_os(),
        chief_upload::settings::Env::from_process(),
    )
}
