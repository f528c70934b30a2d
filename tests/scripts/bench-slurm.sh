#!/usr/bin/env bash
# Slurm vs local, side by side: `petri run` wall time for a chain of trivial stages (one sample),
# a fan-out of trivial stages (one job array) and the lambda pipeline, locally and with
# `--executor slurm` (at the default 1 s poll and at 100 ms); per-stage overhead and ratios
# against the local run; and Slurm's own time from sbatch to a job's first instruction.
# Every run is `--no-cache` on a data dir whose compiled-module cache is warm; the workloads
# alternate (local, slurm, slurm-fast) RUNS times and medians are reported.
# A throwaway single-node cluster (tests/scripts/slurm.sh) on this machine: no network, no
# shared filesystem, so these are petri's and Slurm's fixed costs, not a real cluster's.
# Usage: bash tests/scripts/bench-slurm.sh [RUNS]   (default 5; as root, like slurm.sh;
#        BUILT=1 skips the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# BUILT=1: use the petri and plugins already built in CARGO_TARGET_DIR (e.g. by `cargo test`).
if [ "${BUILT:-0}" != 1 ]; then
    cargo build --release --locked -q -p petri-host
    cargo run --release --locked -q -p petri-plugins -- "$CARGO_TARGET_DIR/plugins" >/dev/null
fi
petri="$(cd "$CARGO_TARGET_DIR" && pwd)/release/petri"
plugins="$(cd "$CARGO_TARGET_DIR/plugins" && pwd)"
runs=${1:-5}
chain=5
fan=8

work=$(mktemp -d /tmp/petri-bench-slurm.XXXXXX)
chmod 755 "$work" # munged wants its socket's directories searchable by all
cleanup() {
    bash tests/scripts/slurm.sh "$work/cluster" destroy >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
conf=$(bash tests/scripts/slurm.sh "$work/cluster" start)
export "${conf?}"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The workloads: a chain of $chain copy stages; $fan samples through one copy stage; lambda.
mkdir -p "$work/chain" "$work/fan" "$work/lambda"
head -c 65536 /dev/urandom >"$work/chain/input.bin"
{
    printf '[inputs.data]\npath = "input.bin"\n'
    prev=inputs.data
    for i in $(seq "$chain"); do
        printf '[stages.s%d]\nmodule = "testkit"\nparams = { mode = "copy" }\ninputs = { data = "%s" }\n' "$i" "$prev"
        prev=s$i.out
    done
} >"$work/chain/pipeline.toml"
printf '[inputs.data]\n[stages.copy]\nmodule = "testkit"\nparams = { mode = "copy" }\ninputs = { data = "inputs.data" }\n' >"$work/fan/pipeline.toml"
printf 'sample\tdata\tcollected_at\tstability_hours\tpriority\n' >"$work/fan/samples.tsv"
for i in $(seq "$fan"); do
    head -c 4096 /dev/urandom >"$work/fan/s$i.bin"
    printf 's%d\ts%d.bin\t2026-11-20T08:00:00Z\t72\tnormal\n' "$i" "$i" >>"$work/fan/samples.tsv"
done
ln -sf "$PWD"/examples/data/lambda/*.gz "$work/lambda/"
sed -e "s#\.\./data/lambda/##" examples/lambda/pipeline.toml >"$work/lambda/pipeline.toml"

args_of() { # workload
    case $1 in
    chain) echo "$work/chain/pipeline.toml" ;;
    fan) echo "$work/fan/pipeline.toml --samples $work/fan/samples.tsv" ;;
    lambda) echo "$work/lambda/pipeline.toml" ;;
    esac
}
stages_of() { # workload
    case $1 in
    chain) echo "$chain" ;;
    fan) echo "$fan" ;;
    lambda) echo 5 ;;
    esac
}
executor_of() { # mode
    case $1 in
    local) echo "--executor local" ;;
    slurm) echo "--executor slurm" ;;
    slurm-fast) echo "--executor slurm --slurm-poll-ms 100" ;;
    esac
}

# One data dir per (workload, mode), plugins added and modules compiled by a first run.
for w in chain fan lambda; do
    for m in local slurm slurm-fast; do
        d="$work/data-$w-$m"
        "$petri" --data-dir "$d" plugin add "$plugins"/*.wasm >/dev/null 2>&1
        # shellcheck disable=SC2046
        (cd "$work/$w" && "$petri" --data-dir "$d" run $(args_of "$w") $(executor_of "$m") --json >/dev/null)
    done
done

for w in chain fan lambda; do
    for m in local slurm slurm-fast; do : >"$work/t-$w-$m"; done
    for _ in $(seq "$runs"); do
        for m in local slurm slurm-fast; do
            d="$work/data-$w-$m"
            t0=$(now_ms)
            # shellcheck disable=SC2046
            (cd "$work/$w" && "$petri" --data-dir "$d" run $(args_of "$w") $(executor_of "$m") --no-cache --json >"$work/last.json")
            t1=$(now_ms)
            grep -q '"status": "completed"' "$work/last.json"
            echo $((t1 - t0)) >>"$work/t-$w-$m"
        done
    done
done

# Slurm's own latency: sbatch returns → the job's first command runs.
: >"$work/s2s"
for _ in $(seq $((runs * 4))); do
    out="$work/s2s.out"
    rm -f "$out"
    t0=$(date +%s%N)
    sbatch --parsable --quiet --chdir="$work" --output="$out" --wrap 'date +%s%N' >/dev/null
    until [ -s "$out" ]; do sleep 0.01; done
    echo $((($(head -1 "$out") - t0) / 1000000)) >>"$work/s2s"
done

echo "## Slurm vs local ($(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "\`bash tests/scripts/bench-slurm.sh $runs\` — medians of $runs runs, \`petri run --no-cache\`, warm compiled cache"
echo
echo "| workload | stages | local ms | slurm ms (poll 1 s) | ratio | slurm ms (poll 100 ms) | ratio | overhead per stage (poll 1 s / 100 ms) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for w in chain fan lambda; do
    n=$(stages_of "$w")
    l=$(median <"$work/t-$w-local")
    s=$(median <"$work/t-$w-slurm")
    f=$(median <"$work/t-$w-slurm-fast")
    awk -v w="$w" -v n="$n" -v l="$l" -v s="$s" -v f="$f" 'BEGIN {
        printf "| %s | %d | %d | %d | %.1f× | %d | %.1f× | %d ms / %d ms |\n", w, n, l, s, s / l, f, f / l, (s - l) / n, (f - l) / n }'
done
echo
s2s=$(median <"$work/s2s")
min=$(sort -n "$work/s2s" | head -1)
max=$(sort -n "$work/s2s" | tail -1)
echo "Submit to start (sbatch returned → the job's first command), $((runs * 4)) jobs: median $s2s ms, min $min ms, max $max ms."
