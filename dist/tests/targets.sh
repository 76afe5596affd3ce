#!/usr/bin/env bash
# dist/package.sh on a machine that lacks what a target needs: it stops before building,
# exit 2, and names what to install (`rustup target add`, the apt package of the target's
# C compiler, or --zig), instead of rustc's "can't find crate for `core`" minutes later.
# The machine is simulated: a rustc stand-in answers `--print sysroot` with an empty
# sysroot (every other question goes to the real rustc), and a cargo stand-in records any
# call, which must not happen.
set -euo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=targets
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."

real_rustc=$(command -v rustc)
mkdir -p "$W/bin" "$W/sysroot/lib/rustlib"
cat > "$W/bin/rustc" <<SH
#!/bin/sh
if [ "\$*" = "--print sysroot" ]; then echo "$W/sysroot"; exit 0; fi
exec "$real_rustc" "\$@"
SH
cat > "$W/bin/cargo" <<SH
#!/bin/sh
echo "\$*" >> "$W/cargo-calls"
exit 1
SH
chmod +x "$W/bin/rustc" "$W/bin/cargo"

# package ARGS...: runs dist/package.sh on the simulated machine; sets rc and err.
package() {
    rc=0
    err=$(PATH="$W/bin:$PATH" RUSTC="$W/bin/rustc" dist/package.sh "$@" --out "$W/out" 2>&1 >/dev/null) || rc=$?
}
# expect NAME WANT...: exit 2, each WANT in the message, nothing built, no cargo call.
expect() {
    local name=$1 want problems=""
    shift
    [ "$rc" = 2 ] || problems="$problems exit $rc, not 2;"
    for want in "$@"; do
        case "$err" in *"$want"*) ;; *) problems="$problems no '$want';" ;; esac
    done
    [ ! -e "$W/cargo-calls" ] || problems="$problems cargo ran: $(cat "$W/cargo-calls");"
    [ ! -e "$W/out" ] || problems="$problems $W/out was written;"
    rm -f "$W/cargo-calls"
    if [ -z "$problems" ]; then pass "$name"; else fail "$name:$problems message: $err"; fi
}

package x86_64-unknown-linux-musl --release
expect "x86_64 musl without its standard library: rustup target add, apt's musl-tools" \
    "standard library for x86_64-unknown-linux-musl is not installed" \
    "rustup target add x86_64-unknown-linux-musl" "apt-get install musl-tools"

package x86_64-pc-windows-gnu
expect "windows-gnu without its standard library: rustup target add, apt's MinGW" \
    "rustup target add x86_64-pc-windows-gnu" "apt-get install gcc-mingw-w64-x86-64"

package aarch64-unknown-linux-musl --release --zig
expect "aarch64 musl with --zig, no standard library: rustup target add, zig from pip" \
    "rustup target add aarch64-unknown-linux-musl" "pip install ziglang"

# The standard library there, no C compiler: none in Debian for aarch64 musl, so --zig.
mkdir -p "$W/sysroot/lib/rustlib/aarch64-unknown-linux-musl/lib"
if command -v aarch64-linux-musl-gcc >/dev/null; then
    pass "aarch64 musl without a C compiler: not tried, this machine has aarch64-linux-musl-gcc"
else
    package aarch64-unknown-linux-musl --release
    expect "aarch64 musl with its standard library, no C compiler: build with --zig" \
        "aarch64-linux-musl-gcc" "--zig"
fi

package x86_64-unknown-linux-mus
expect "a misspelt target: not one rustc knows" "'x86_64-unknown-linux-mus' is not a target"

# With the library and the C compiler there, the checks let it through to cargo (whose
# stand-in then stops it).
mkdir -p "$W/sysroot/lib/rustlib/x86_64-pc-windows-gnu/lib"
if command -v x86_64-w64-mingw32-gcc >/dev/null; then
    package x86_64-pc-windows-gnu
    if [ -e "$W/cargo-calls" ]; then
        pass "windows-gnu with its standard library and MinGW: passes on to cargo"
    else
        fail "windows-gnu with its standard library and MinGW: cargo never called (exit $rc): $err"
    fi
    rm -f "$W/cargo-calls"
fi
finish
