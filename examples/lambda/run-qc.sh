#!/usr/bin/env bash
# README command 1: QC on the bundled paired lambda phage reads with the
# embedded default (a local data dir, .petri/ in the working directory).
# Builds petri and the plugins on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

cargo build --release --locked -q -p petri-host
cargo run --release --locked -q -p petri-plugins -- "$CARGO_TARGET_DIR/plugins" >/dev/null
petri="$CARGO_TARGET_DIR/release/petri"

"$petri" inspect "$CARGO_TARGET_DIR/plugins/fastq-qc.wasm" | head -1
"$petri" run "$CARGO_TARGET_DIR/plugins/fastq-qc.wasm" \
    --input reads=examples/data/lambda/reads_1.fq.gz \
    --input mates=examples/data/lambda/reads_2.fq.gz \
    --output-dir out/lambda-qc "$@"
