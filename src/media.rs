//! The media type sent as `mime_type`: by extension (mime_guess), else by the first bytes
//! of the file, else `application/octet-stream`.

use std::path::Path;

pub const FALLBACK: &str = "application/octet-stream";

pub fn media_type(path: &Path, head: &[u8]) -> String {
    if path.extension().is_some() {
        if let Some(m) = mime_guess::from_path(path).first() {
            return m.essence_str().to_string();
        }
    }
    sniff(head).unwrap_or(FALLBACK).to_string()
}

/// Whether sniffing could change the answer (so a cached hash still needs the head).
pub fn needs_head(path: &Path) -> bool {
    path.extension().is_none() || mime_guess::from_path(path).first().is_none()
}

/// Magic numbers of the formats an assets library meets most.
fn sniff(head: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
        (b"OggS", "audio/ogg"),
        (b"ID3", "audio/mpeg"),
        (b"fLaC", "audio/flac"),
        (b"\x1aE\xdf\xa3", "video/webm"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"{\\rtf", "application/rtf"),
    ];
    for (magic, mime) in MAGIC {
        if head.starts_with(magic) {
            return Some(mime);
        }
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" {
        match &head[8..12] {
            b"WEBP" => return Some("image/webp"),
            b"WAVE" => return Some("audio/wav"),
            b"AVI " => return Some("video/x-msvideo"),
            _ => {}
        }
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(match &head[8..12] {
            b"qt  " => "video/quicktime",
            b"heic" | b"heix" | b"mif1" => "image/heic",
            b"avif" => "image/avif",
            b"M4A " => "audio/mp4",
            _ => "video/mp4",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension_then_magic() {
        assert_eq!(media_type(Path::new("a/b.PNG"), b""), "image/png");
        assert_eq!(
            media_type(Path::new("notes.txt"), b"\x89PNG\r\n\x1a\n"),
            "text/plain"
        );
        assert_eq!(
            media_type(Path::new("render"), b"\x89PNG\r\n\x1a\n...."),
            "image/png"
        );
        assert_eq!(
            media_type(Path::new("clip"), b"\0\0\0\x18ftypisom\0\0"),
            "video/mp4"
        );
        assert_eq!(media_type(Path::new("blob"), b"hello"), FALLBACK);
        assert_eq!(media_type(Path::new("x.unknownext"), b""), FALLBACK);
        assert!(needs_head(Path::new("render")) && !needs_head(Path::new("a.png")));
    }
}
