#!/bin/sh
# Runs every fuzz target for SECONDS seconds each (default 60) with cargo-fuzz on a nightly
# toolchain. New interesting inputs go to a scratch corpus (the committed seeds in
# fuzz/corpus/ stay small); a crash is written to fuzz/artifacts/<target>/, which `cargo test`
# replays on stable (src/fuzzing.rs), so commit it with the fix.
#   usage: fuzz/run.sh [SECONDS] [TARGET...]
# Needs: `rustup toolchain list` showing nightly, `cargo install cargo-fuzz`, openssl (the key
# file target also gets freshly generated keys: no private key is kept in the repository).
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz/run.sh: no nightly toolchain (rustup toolchain install nightly): skipped" >&2
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: cargo-fuzz is missing (cargo install --locked cargo-fuzz)" >&2
    exit 2
fi
targets=${*:-$(cargo +nightly fuzz list)}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM
keys=
if command -v openssl >/dev/null 2>&1; then
    keys="$scratch/keys"
    sh tests/fixtures/make-certs.sh "$keys" fuzz-password >/dev/null
    rm -f "$keys"/*.csr "$keys"/*.srl
fi
cargo +nightly fuzz build
failed=
for t in $targets; do
    mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
    extra=
    [ "$t" = key_file ] && [ -n "$keys" ] && extra=$keys
    echo "== $t: $seconds s"
    # shellcheck disable=SC2086
    if ! cargo +nightly fuzz run "$t" "$scratch/$t" "fuzz/corpus/$t" $extra -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz/run.sh: crashes in:$failed (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: every target ran $seconds s without a crash"
