#!/usr/bin/env bash
# Sweep benchmarks (docs/benchmarks.md §9), each beside its baseline:
#  1. validating + expanding a 100,000-combination sweep vs the same 100,000
#     stages written out in the file;
#  2. a 10,000-combination sweep of a trivial stage end to end vs the same
#     10,000 executions as a 10,000-row sample sheet;
#  3. the lambda sweep example (8 combinations) vs its 8 combinations run as
#     8 separate pipelines.
# Needs a release build: CARGO_TARGET_DIR (default ~/.cache/petri-target) with
# release/petri and plugins/*.wasm (examples/lambda/run.sh builds both).
#   bash tests/scripts/bench-sweep.sh            # every case
#   bash tests/scripts/bench-sweep.sh sweep10k   # only case 2's sweep (host overhead, §6)
# PETRI=/path/to/petri compares another build; TMPDIR=/dev/shm puts the data
# dirs on tmpfs (no fsync cost).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/petri-target}"
petri="${PETRI:-$target/release/petri}"
only="${1:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
timed() { # LABEL CMD…: wall seconds, user and system CPU seconds, peak RSS of one run
  /usr/bin/time -f "$1	%e s	%U user	%S sys	%M KB" "${@:2}" >/dev/null 2>time.err || { cat time.err; exit 1; }
  tail -1 time.err
}
fresh() { rm -rf "$1"; "$petri" --data-dir "$1" plugin add "$target"/plugins/*.wasm >/dev/null 2>&1; }

head -c 1000 /dev/urandom > in.bin
trivial='[pipeline]
name = "trivial"
[inputs.data]
path = "in.bin"
'
stage='[stages.t]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
'
printf '%s%s[sweep.axes]\n"t.record" = { range = [1, 10000], step = 1 }\n' "$trivial" "$stage" > sweep10k.toml
if [ "$only" = sweep10k ]; then
  fresh s; timed "run sweep 10k" "$petri" --data-dir s run sweep10k.toml --json
  exit 0
fi
printf '%s%s[sweep.axes]\n"t.record" = { range = [1, 100000], step = 1 }\n' "$trivial" "$stage" > sweep100k.toml
{ printf '%s' "$trivial"; for i in $(seq 1 100000); do
  printf '[stages.t_%d]\nmodule = "testkit"\nparams = { mode = "copy", record = %d }\ninputs = { data = "inputs.data" }\n' "$i" "$i"; done; } > explicit100k.toml
printf '[pipeline]\nname = "trivial-samples"\n[inputs.data]\nformat = "bin"\n%s' "$stage" > samples10k.toml
{ printf 'sample\tdata\n'; for i in $(seq 0 9999); do printf 'sample %d\n' "$i" > "in$i.bin"; printf 's%d\tin%d.bin\n' "$i" "$i"; done; } > samples10k.tsv

fresh d
for _ in 1 2 3; do
  timed "validate sweep 100k" "$petri" --data-dir d validate sweep100k.toml
  timed "validate explicit 100k" "$petri" --data-dir d validate explicit100k.toml
done
fresh s; timed "run sweep 10k" "$petri" --data-dir s run sweep10k.toml --json
fresh f; timed "run sheet 10k" "$petri" --data-dir f run samples10k.toml --samples samples10k.tsv --json

sed "s#../data/lambda/#$root/examples/data/lambda/#" "$root/examples/sweep/pipeline.toml" > lambda-sweep.toml
fresh l; timed "lambda sweep (8 combinations)" "$petri" --data-dir l run lambda-sweep.toml --json
fresh p
start=$(date +%s.%N)
for q in 20 30; do for c in 3 30; do for m in 5 50; do
  sed -e "s#../data/lambda/#$root/examples/data/lambda/#" -e '/^\[sweep/,$d' \
      -e "s/quality-cutoff = 20/quality-cutoff = $q/" \
      -e "s/ploidy = \"haploid\" }/ploidy = \"haploid\", min-depth = $c }/" \
      -e "s/params = { min-depth = 5 }/params = { min-depth = $m }/" \
      "$root/examples/sweep/pipeline.toml" > "p-$q-$c-$m.toml"
  "$petri" --data-dir p run "p-$q-$c-$m.toml" --no-cache --json >/dev/null
done; done; done
printf 'lambda as 8 separate runs\t%.2f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"
