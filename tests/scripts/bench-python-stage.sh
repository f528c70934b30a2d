#!/usr/bin/env bash
# Python stage benchmark (docs/benchmarks.md §11): the componentize-py
# component of plugins/vcf-summary against a Rust stage (call-variants) as the
# baseline — its size, its first load (wasmtime compiles it; `petri inspect`
# in a fresh data dir) and its second load (the compiled cache), and the fuel
# and wall time of a run on the lambda calls beside the Rust stages of the
# lambda pipeline. Needs a release build: CARGO_TARGET_DIR (default
# ~/.cache/petri-target) with release/petri and plugins/*.wasm
# (examples/lambda/run.sh builds both).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/petri-target}"
petri="$target/release/petri"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
timed() { # LABEL CMD…: wall seconds and peak RSS of one run
  /usr/bin/time -f "$1	%e s	%U s user	%M KB" "${@:2}" >/dev/null 2>time.err || { cat time.err; exit 1; }
  tail -1 time.err
}

for stage in vcf-summary call-variants; do
  wasm="$target/plugins/$stage.wasm"
  echo "$stage	$(stat -c %s "$wasm") bytes"
  timed "$stage first load (compile)" "$petri" --data-dir "d-$stage" inspect "$wasm"
  timed "$stage second load (cache)" "$petri" --data-dir "d-$stage" inspect "$wasm"
done

# The lambda pipeline with the Python stage summarising its calls: fuel per stage.
cp -r "$repo/examples" .
cat examples/lambda/pipeline.toml - > mixed.toml <<'TOML'

[stages.summary]
module = "vcf-summary"
inputs = { vcf = "call.variants" }
TOML
mv mixed.toml examples/lambda/mixed.toml
"$petri" --data-dir d plugin add "$target"/plugins/*.wasm >/dev/null 2>&1
timed "lambda + vcf-summary pipeline (modules compiled)" \
  "$petri" --data-dir d run examples/lambda/mixed.toml --no-cache
"$petri" --data-dir d run examples/lambda/mixed.toml --no-cache --json |
  jq -r '.stages[] | "\(.stage)\tfuel \(.fuel_used)"'
