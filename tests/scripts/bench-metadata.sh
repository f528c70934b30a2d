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
# Two scenarios each round:
#   rerun — `petri run --no-cache` on a data dir that already holds every
#           output (each stage executed again, its outputs found stored);
#   fresh — a first `petri run` on a new data dir (nothing stored but the
#           modules) whose compiled cache is a copy of a warm one.
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
"$petri" --data-dir fresh plugin add "$target"/plugins/*.wasm >/dev/null 2>&1
cp -a fresh d
# A first run compiles the modules into the data dir's compiled cache and
# stores every output; the measured runs re-execute every stage (--no-cache).
"$petri" --data-dir d run lambda.toml --json >/dev/null
cp -a d/cache fresh/
classify() {
  perf script -i "$1" -F comm,ip,sym,dso 2>/dev/null | python3 -c '
import collections, os, re, sys
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
# DETAIL=1: where each metadata sample was, by its innermost petri frame.
detail = collections.Counter()
def where(frames):
    return next((re.sub(r"^\S+\s+", "", f) for f in frames if "petri_host::" in f), "(no petri frame)")
def classify(comm, frames):
    if LOAD.search("\n".join(frames)): return "load"
    if comm.startswith("sqlx"):
        detail[("metadata: database", where(frames))] += 1
        return "metadata: database"
    for frame in frames:
        for name, pattern in LEAF:
            if pattern.search(frame):
                if name.startswith("metadata"): detail[(name, where(frames))] += 1
                return name
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
print(sys.argv[1] + ": %d samples; " % total
      + ", ".join("%s %.2f %%" % (k, 100.0 * v / total) for k, v in counts.items())
      + "; metadata / compute = %.2f %%" % (100.0 * sum(v for k, v in counts.items() if k.startswith("metadata")) / max(counts["compute"], 1)))
if os.environ.get("DETAIL"):
    for (name, frame), n in detail.most_common(25):
        print("    %4d  %s  %s" % (n, name, frame[:150]))
' "$2"
}
for round in $(seq 1 "$rounds"); do
  perf record -q -F 2000 --call-graph dwarf,32768 -o "rerun$round.data" \
    "$petri" --data-dir d run lambda.toml --no-cache --json >/dev/null 2>perf.err
  classify "rerun$round.data" "round $round, rerun"
  rm -rf "fresh$round" && cp -a fresh "fresh$round"
  perf record -q -F 2000 --call-graph dwarf,32768 -o "fresh$round.data" \
    "$petri" --data-dir "fresh$round" run lambda.toml --json >/dev/null 2>perf.err
  classify "fresh$round.data" "round $round, fresh"
done
