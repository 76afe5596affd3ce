//! The names sent to the API: `filename` in Unicode NFC, `path` as on disk, and names
//! that are not UTF-8.

use fake_chief::FakeChief;

use crate::common::{files_by_path, json_lines, text, TestEnv};

/// A name stored decomposed (NFD, as macOS writes them) reaches the API composed (NFC);
/// `path` stays as on disk.
#[test]
fn file_names_reach_the_api_in_nfc() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let nfd = "Cafe\u{301}.txt";
    let nfc = "Caf\u{e9}.txt";
    env.file(nfd, "bonjour");
    env.file("plain.txt", "plain");
    let out = env
        .cmd_for(&fake)
        .args(["--json", nfd, "plain.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut received: Vec<String> = fake
        .api_requests()
        .iter()
        .filter_map(|r| r.json.as_ref())
        .map(|j| j["filename"].as_str().unwrap_or_default().to_string())
        .collect();
    received.sort();
    assert_eq!(received, [nfc, "plain.txt"]);
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(
        files[nfd]["filename"], nfc,
        "path stays NFD, filename is NFC"
    );
}

/// A name that is not valid UTF-8 (Linux allows any bytes): shown and sent with U+FFFD
/// in place of the bad byte, and the file itself still read and uploaded.
#[test]
fn a_name_that_is_not_utf8_is_sent_with_a_replacement_character() {
    if !cfg!(target_os = "linux") {
        return crate::common::skip("only Linux file systems take names that are not UTF-8");
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let fake = FakeChief::start();
        let env = TestEnv::new();
        // "café.txt" in Latin-1: 0xE9 alone is no UTF-8.
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        std::fs::write(env.root().join(name), "latin").unwrap();
        let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let shown = "caf\u{FFFD}.txt";
        let files = files_by_path(&json_lines(&out.stdout));
        let line = &files[&format!("./{shown}")];
        assert_eq!(line["filename"], shown);
        assert_eq!(line["outcome"], "uploaded");
        let assets = fake.assets(fake_chief::PROJECT);
        assert_eq!(assets.len(), 1);
        assert_eq!(
            (assets[0].filename.as_str(), assets[0].md5.as_str()),
            (shown, fake_chief::md5_hex(b"latin").as_str())
        );
    }
}
