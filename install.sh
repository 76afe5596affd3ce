#!/bin/sh
# Installs chief-upload from its release archives, verified against SHA256SUMS.
#
#   curl -fsSL https://raw.githubusercontent.com/OWNER/chief-upload/main/install.sh | sh
#   sh install.sh [--version VERSION] [--install-dir DIR] [--download-url URL]
#
# OWNER is a placeholder for the repository's owner, the same in Cargo.toml, action.yml
# and the README (dist/tests/owner.sh checks that they agree).
#
# Settings (a flag wins over its variable):
#   CHIEF_UPLOAD_VERSION       --version      `latest` (default) or a version: 0.1.0 or v0.1.0
#   CHIEF_UPLOAD_INSTALL_DIR   --install-dir  default: ~/.local/bin
#   CHIEF_UPLOAD_DOWNLOAD_URL  --download-url default: https://github.com/OWNER/chief-upload/releases/download
#   CHIEF_UPLOAD_SHA256        the expected SHA-256 of the archive, checked too (optional)
#   CHIEF_UPLOAD_OS, CHIEF_UPLOAD_ARCH  instead of `uname -s` / `uname -m` (tests; CI runners)
#
# Layout under the download URL, as on GitHub's releases and for a mirror:
#   v<VERSION>/chief-upload-<VERSION>-<TARGET>.tar.gz   (.zip for Windows)
#   v<VERSION>/SHA256SUMS                               (`<sha256>  <archive name>` lines)
#   latest                                              (mirrors only: the version, one line)
# `latest` is resolved on GitHub by where https://github.com/OWNER/chief-upload/releases/latest
# redirects (.../releases/tag/v<VERSION>), and on any other download URL by its `latest` file.
#
# Nothing is written to the install folder before the archive's SHA-256 matches its
# SHA256SUMS line; the binary then replaces the old one in one rename. Temporary files go
# to a folder under TMPDIR that is removed on every exit.
set -eu

GITHUB_REPO="https://github.com/OWNER/chief-upload"
SUPPORTED="linux x86_64, linux aarch64, macos x86_64, macos aarch64, windows x86_64"

say() { echo "chief-upload install: $*" >&2; }
die() { echo "chief-upload install: error: $*" >&2; exit 1; }

version=${CHIEF_UPLOAD_VERSION:-latest}
install_dir=${CHIEF_UPLOAD_INSTALL_DIR:-}
base=${CHIEF_UPLOAD_DOWNLOAD_URL:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --version | --install-dir | --download-url)
            [ $# -ge 2 ] || die "$1 needs a value"
            case "$1" in
                --version) version=$2 ;;
                --install-dir) install_dir=$2 ;;
                --download-url) base=$2 ;;
            esac
            shift 2 ;;
        -h | --help)
            sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[ -n "$install_dir" ] || install_dir="${HOME:?HOME is not set}/.local/bin"
on_github=no
[ -n "$base" ] || { base="$GITHUB_REPO/releases/download"; on_github=yes; }
base=${base%/}

# --- The platform, and the target triple of its archive -----------------------------------
os=${CHIEF_UPLOAD_OS:-$(uname -s)}
arch=${CHIEF_UPLOAD_ARCH:-$(uname -m)}
case "$os" in
    Linux | linux) os=linux ;;
    Darwin | darwin | macos | macOS) os=macos ;;
    MINGW* | MSYS* | CYGWIN* | Windows* | windows) os=windows ;;
esac
case "$arch" in
    x86_64 | amd64 | X64 | x64) arch=x86_64 ;;
    aarch64 | arm64 | ARM64) arch=aarch64 ;;
esac
exe=""
ext=tar.gz
case "$os/$arch" in
    linux/x86_64 | linux/aarch64) target="$arch-unknown-linux-musl" ;;
    macos/x86_64 | macos/aarch64) target="$arch-apple-darwin" ;;
    windows/x86_64) target="x86_64-pc-windows-msvc"; exe=".exe"; ext=zip ;;
    *) die "unsupported platform: $os $arch (supported: $SUPPORTED)" ;; # check:platform
esac

# --- Tools ---------------------------------------------------------------------------------
if command -v curl >/dev/null 2>&1; then
    fetcher=curl
elif command -v wget >/dev/null 2>&1; then
    fetcher=wget
else
    die "needs curl or wget"
fi
# fetch URL FILE: downloads URL to FILE, printing nothing; sets `got` to the HTTP status
# (000: no answer). Fails, and leaves no FILE, unless the status is 2xx.
got=000
fetch() {
    if [ "$fetcher" = curl ]; then
        got=$(curl -sL --proto '=https,http' --retry 2 -o "$2" -w '%{http_code}' "$1") || true
    elif wget -q -O "$2" "$1"; then
        got=200
    else
        got=000
    fi
    case "$got" in 2??) return 0 ;; esac
    rm -f "$2"
    return 1
}
# What the last fetch got, for an error message.
status() { if [ "$got" = 000 ]; then echo "no answer"; else echo "HTTP $got"; fi; }
if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
    die "needs sha256sum or shasum"
fi
[ "$ext" = tar.gz ] || command -v unzip >/dev/null 2>&1 || die "needs unzip"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chief-upload-install.XXXXXX") || die "cannot make a temporary folder"
staged=""
cleanup() {
    rm -rf "$tmp"
    if [ -n "$staged" ]; then rm -f "$staged"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- The version ---------------------------------------------------------------------------
if [ "$version" = latest ]; then
    if [ "$on_github" = yes ]; then
        # GitHub answers /releases/latest with a redirect to /releases/tag/v<VERSION>.
        if [ "$fetcher" = curl ]; then
            where=$(curl -fsIL --proto '=https' -o /dev/null -w '%{url_effective}' "$GITHUB_REPO/releases/latest") ||
                die "cannot resolve the latest version at $GITHUB_REPO/releases/latest"
        else
            where=$(wget -q -S --spider "$GITHUB_REPO/releases/latest" 2>&1 | sed -n 's/^ *[Ll]ocation: *//p' | tail -n 1) ||
                die "cannot resolve the latest version at $GITHUB_REPO/releases/latest"
        fi
        version=${where##*/}
    else
        fetch "$base/latest" "$tmp/latest" ||
            die "cannot resolve the latest version: $base/latest ($(status))"
        version=$(head -n 1 "$tmp/latest" | tr -d ' \r\t')
    fi
fi
version=${version#v}
case "$version" in
    "" | */* | *[!0-9A-Za-z.+-]*) die "not a version: '$version'" ;;
esac

# --- Download and verify, all in the temporary folder ---------------------------------------
name="chief-upload-$version-$target"
archive="$name.$ext"
url="$base/v$version"
say "installing chief-upload $version ($target) from $url"
if ! fetch "$url/SHA256SUMS" "$tmp/SHA256SUMS"; then
    [ "$got" != 404 ] || die "chief-upload $version not found: there is no $url/SHA256SUMS" # check:version
    die "download failed: $url/SHA256SUMS ($(status))" # check:download
fi
fetch "$url/$archive" "$tmp/$archive" ||
    die "download failed: $url/$archive ($(status))" # check:download
expected=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || die "no entry for $archive in $url/SHA256SUMS" # check:entry
actual=$(sha256 "$tmp/$archive")
[ "$actual" = "$expected" ] ||
    die "checksum mismatch for $archive: expected $expected, got $actual" # check:checksum
if [ -n "${CHIEF_UPLOAD_SHA256:-}" ]; then
    [ "$actual" = "$CHIEF_UPLOAD_SHA256" ] ||
        die "checksum mismatch for $archive: expected $CHIEF_UPLOAD_SHA256 (CHIEF_UPLOAD_SHA256), got $actual"
fi

mkdir "$tmp/x"
if [ "$ext" = zip ]; then
    unzip -q "$tmp/$archive" -d "$tmp/x" || die "cannot unpack $archive"
else
    tar -xzf "$tmp/$archive" -C "$tmp/x" || die "cannot unpack $archive"
fi
new="$tmp/x/$name/chief-upload$exe"
[ -f "$new" ] || die "$archive holds no $name/chief-upload$exe"

# --- Install: a copy beside the old binary, then one rename ---------------------------------
mkdir -p "$install_dir" || die "cannot create $install_dir"
staged="$install_dir/.chief-upload$exe.new.$$"
{ cp "$new" "$staged" && chmod 755 "$staged"; } || die "cannot write to $install_dir"
mv -f "$staged" "$install_dir/chief-upload$exe" || die "cannot write $install_dir/chief-upload$exe"
staged=""
say "installed $install_dir/chief-upload$exe"

case ":${PATH:-}:" in
    *":$install_dir:"* | *":${install_dir%/}:"*) ;;
    *) say "note: $install_dir is not on PATH; add it, e.g.: export PATH=\"$install_dir:\$PATH\"" ;;
esac
