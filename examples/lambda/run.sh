#!/usr/bin/env bash
# README command 1: the lambda pipeline (examples/lambda/pipeline.toml) on the
# bundled paired lambda phage reads, with the embedded default: a local data
# dir, .petri/ in the working directory (SQLite state + blob store).
# Builds petri and the plugins on first use and registers the plugins, then
# publishes the outputs under results/lambda/<sample>/<stage>/<port>.<format>.
# The build cache is the test command's (.ci/run), so one build serves both.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
# The Python stage (plugins/vcf-summary) is built by componentize-py.
command -v componentize-py >/dev/null 2>&1 ||
    python3 -m pip install -q componentize-py==0.25.1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/petri-target}"

cargo build --release --locked -q -p petri-host
cargo run --release --locked -q -p petri-plugins -- "$CARGO_TARGET_DIR/plugins" >/dev/null
petri="$CARGO_TARGET_DIR/release/petri"

"$petri" plugin add "$CARGO_TARGET_DIR"/plugins/*.wasm >&2
"$petri" run examples/lambda/pipeline.toml --output-dir results/lambda "$@"
