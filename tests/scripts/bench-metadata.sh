#!/usr/bin/env bash
# Metadata and provenance capture as a share of stage time on the lambda
# pipeline (docs/benchmarks.md §12, issue 14). Samples `petri run --no-cache`
# with `perf record --call-graph dwarf` and sorts every CPU sample by its stack:
#   load     — loading and validating modules and the pipeline (once per run);
#   metadata — hashing (SHA-256 of every input and output byte), stage and
#              run records, the group commit, SQLite, JSON;
#   compute  — the stage's own wasm code and the wasmtime/WASI calls it makes;
#   store I/O — reading inputs from and writing outputs to the blob store
#              (bytes any way of running the stage must move);
#   other    — process start, the async runtime, scheduling, everything else.
# A sample is "load" if any frame is loading; otherwise its innermost frame
# that names one of the others decides (kernel and libc frames take the
# category of the code that called them).
# Needs perf and a release build with debuginfo (the release profile has it):
#   bash tests/scripts/bench-metadata.sh [ROUNDS]     # default 3 rounds
# PETRI=/path/to/petri measures another build; TMPDIR=/dev/shm uses tmpfs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/petri-target}"
petri="${PETRI:-$target/release/petri}"
rounds="${1:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
sed "s#\.\./data/lambda/#$root/examples/data/lambda/#" "$root/examples/lambda/pipeline.toml" > lambda.toml
"$petri" --data-dir d plugin add "$target"/plugins/*.wasm >/dev/null 2>&1
# A first run compiles the modules into the data dir's compiled cache and
# stores every output; the measured runs re-execute every stage (--no-cache).
"$petri" --data-dir d run lambda.toml --json >/dev/null
for round in $(seq 1 "$rounds"); do
  perf record -q -F 2000 --call-graph dwarf,32768 -o "perf$round.data" \
    "$petri" --data-dir d run lambda.toml --no-cache --json >/dev/null 2>perf.err
  perf script -i "perf$round.data" -F comm,ip,sym,dso 2>/dev/null | python3 -c '
import re, sys
# Whole stack: loading and validating happen once per run, before any stage.
LOAD = re.compile(r"CompiledCache::load|Petri::load|pipeline::validate::")
# Leaf first: the first frame that names one of these decides.
LEAF = [
    ("metadata: hashing", re.compile(r"sha2::")),
    ("metadata: records", re.compile(r"pipeline::record|run::commits|provenance|store::records|serde_json")),
    ("metadata: database", re.compile(r"sqlx|sqlite3|store::state|syncfs|fsync")),
    ("compute", re.compile(r"perf-[0-9]+[.]map|\[JIT\]|wasmtime")),
    ("store I/O", re.compile(r"petri_host::store::")),
    ("compute", re.compile(r"petri_host::stage::")),
]
counts = dict.fromkeys(["load", "compute", "store I/O", "other"] + [n for n, _ in LEAF[:3]], 0)
def classify(comm, frames):
    if LOAD.search("\n".join(frames)): return "load"
    if comm.startswith("sqlx"): return "metadata: database"
    for frame in frames:
        for name, pattern in LEAF:
            if pattern.search(frame): return name
    return "other"
comm, frames = None, []
for line in sys.stdin:
    if not line.strip():
        if comm is not None: counts[classify(comm, frames)] += 1
        comm, frames = None, []
    elif line.startswith("\t"):
        frames.append(line.strip())
    else:
        comm = line.split()[0]
if comm is not None: counts[classify(comm, frames)] += 1
total = sum(counts.values()) or 1
print("round '"$round"': %d samples; " % total
      + ", ".join("%s %.2f %%" % (k, 100.0 * v / total) for k, v in counts.items())
      + "; metadata / compute = %.2f %%" % (100.0 * sum(v for k, v in counts.items() if k.startswith("metadata")) / max(counts["compute"], 1)))
'
done
