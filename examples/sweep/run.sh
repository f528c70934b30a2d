#!/usr/bin/env bash
# The sweep example: examples/sweep/pipeline.toml on the bundled lambda reads,
# outputs published under results/sweep/, then its results table.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/petri-target}"

cargo build --release --locked -q -p petri-host
cargo run --release --locked -q -p petri-plugins -- "$CARGO_TARGET_DIR/plugins" >/dev/null
petri="$CARGO_TARGET_DIR/release/petri"

"$petri" plugin add "$CARGO_TARGET_DIR"/plugins/*.wasm >&2
run=$("$petri" run examples/sweep/pipeline.toml --output-dir results/sweep --json "$@" | jq -r .run_id)
"$petri" results "$run" --metric call.pass --metric consensus.applied | column -t -s $'\t'
