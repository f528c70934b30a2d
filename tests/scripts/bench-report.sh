#!/usr/bin/env bash
# Report benchmark (docs/benchmarks.md §10): `petri report` of a 1,000-combination
# sweep of trivial stages (testkit `copy` of 1 kB: t over `t.record` 1…100 ×
# u over `u.record` 1…10: 1,100 stages, most of them cache hits, and a
# 100 × 10 heatmap), beside
# `petri results` of the same run as the baseline (the table it also reads).
# Needs a release build: CARGO_TARGET_DIR (default ~/.cache/petri-target) with
# release/petri and plugins/*.wasm (examples/lambda/run.sh builds both).
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/petri-target}"
petri="$target/release/petri"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
timed() { # LABEL CMD…: wall seconds and peak RSS of one run
  /usr/bin/time -f "$1	%e s	%M KB" "${@:2}" >/dev/null 2>time.err || { cat time.err; exit 1; }
  tail -1 time.err
}

head -c 1000 /dev/urandom > in.bin
cat > sweep1k.toml <<'TOML'
[pipeline]
name = "trivial-1k"
[inputs.data]
path = "in.bin"
[stages.t]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
[stages.u]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "t.out" }
[sweep.axes]
"t.record" = { range = [1, 100], step = 1 }
"u.record" = { range = [1, 10], step = 1 }
TOML
"$petri" --data-dir d plugin add "$target"/plugins/*.wasm >/dev/null 2>&1
run=$("$petri" --data-dir d run sweep1k.toml --json 2>/dev/null | jq -r .run_id)
for _ in 1 2 3; do
  timed "results (1,000 combinations)" "$petri" --data-dir d results "$run"
  timed "report (1,000 combinations)" "$petri" --data-dir d report "$run" -o report.html --metric u.bytes
done
ls -l report.html | awk '{print "report.html", $5, "bytes"}'
grep -o '<svg id="[^"]*"' report.html | tr '\n' ' '; echo
