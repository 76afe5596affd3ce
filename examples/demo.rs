//! A full upload round trip with no Chief account: starts the fake Chief server in this
//! process, points chief-upload at it, uploads, shows what the server stored, then runs
//! the same upload again to show that content already there is skipped.
//!
//! ```sh
//! cargo run --example demo                    # uploads a small generated sample tree
//! cargo run --example demo -- ./my-files -v   # any chief-upload arguments
//! ```

use std::ffi::OsString;
use std::process::ExitCode;

use chief_upload::settings::Env;

fn main() -> ExitCode {
    let server = fake_chief::FakeChief::start();
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let sample = if args.is_empty() {
        match sample_tree() {
            Ok(dir) => {
                args.push(dir.path().into());
                Some(dir)
            }
            Err(e) => {
                eprintln!("demo: cannot create a sample tree: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    eprintln!(
        "demo: fake Chief API at {} (storage at {})",
        server.api_url(),
        server.storage_url()
    );
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.to_string_lossy().starts_with("CHIEF_"))
        .collect();
    vars.extend(server.env().into_iter().map(|(k, v)| (k.into(), v.into())));
    let run = || {
        let argv = std::iter::once(OsString::from("chief-upload")).chain(args.iter().cloned());
        chief_upload::run(argv, Env::from_pairs(vars.clone()))
    };
    let code = run();

    let assets = server.assets(fake_chief::PROJECT);
    eprintln!(
        "\ndemo: the fake server now holds {} asset(s) in {}:",
        assets.len(),
        fake_chief::PROJECT
    );
    for a in &assets {
        eprintln!(
            "  {}  {:>9} B  {}  {}  md5 {}",
            a.asset_id, a.size, a.mime_type, a.filename, a.md5
        );
    }
    eprintln!("\ndemo: the same upload again (the content is already there):");
    let puts_before = server.storage_requests().len();
    let again = run();
    eprintln!(
        "demo: the second run sent {} upload(s).",
        server.storage_requests().len() - puts_before
    );
    let code = if code == ExitCode::SUCCESS {
        again
    } else {
        code
    };
    drop(sample);
    code
}

fn sample_tree() -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("chief-demo-").tempdir()?;
    let p = dir.path();
    std::fs::create_dir_all(p.join("renders/final"))?;
    std::fs::write(
        p.join("README.txt"),
        "A sample tree made by the chief-upload demo.\n",
    )?;
    std::fs::write(
        p.join("renders/frame-001.png"),
        b"\x89PNG\r\n\x1a\nnot really a png",
    )?;
    std::fs::write(p.join("renders/final/cut.mp4"), vec![0x42u8; 3 << 20])?;
    std::fs::write(p.join("renders/final/cut copy.mp4"), vec![0x42u8; 3 << 20])?;
    std::fs::write(p.join("notes.json"), "{\"take\": 3}\n")?;
    Ok(dir)
}
