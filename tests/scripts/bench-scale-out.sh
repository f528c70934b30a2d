#!/usr/bin/env bash
# Scale-out benchmark: stages per second with 1, 2 and 3 `petri serve` daemons sharing one data
# dir, on SQLite and on PostgreSQL, for trivial stages and for the lambda pipeline; and the time
# another daemon takes to rescue a SIGKILLed daemon's run. Results go to stdout as a table.
# Usage: bash tests/scripts/bench-scale-out.sh [RUNS_TRIVIAL] [RUNS_LAMBDA]   (defaults 30 and 4;
#        KINDS="trivial" or "lambda" runs one workload only)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -q -p petri-host
cargo run --release --locked -q -p petri-plugins -- "$CARGO_TARGET_DIR/plugins" >/dev/null
petri="$PWD/$CARGO_TARGET_DIR/release/petri"
[ -x "$petri" ] || petri="$CARGO_TARGET_DIR/release/petri"
plugins="$CARGO_TARGET_DIR/plugins"
runs_trivial=${1:-30}
runs_lambda=${2:-4}

work=$(mktemp -d /tmp/petri-bench.XXXXXX)
pgdir=$(mktemp -d /tmp/petri-bench-pg.XXXXXX) # the server's user owns it
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    bash tests/scripts/postgres.sh "$pgdir" destroy >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
pg=$(bash tests/scripts/postgres.sh "$pgdir")

# A fresh database URL: a new PostgreSQL database, or an empty SQLite file.
# (Called in a command substitution: the name comes from the clock, not a counter.)
fresh_db() { # backend
    local name
    name=bench_$(date +%s%N)
    if [ "$1" = postgres ]; then
        psql "$pg" -qAt -c "CREATE DATABASE $name" >/dev/null
        echo "${pg%/*}/$name"
    else
        echo "sqlite:$work/$name.sqlite"
    fi
}

# Starts a daemon; sets $url (and $pid). Args: data db node lease
start() {
    local out="$work/$3.$RANDOM.out"
    "$petri" --data-dir "$1" --database "$2" serve --listen 127.0.0.1:0 --node-id "$3" \
        --lease-secs "$4" --max-concurrent-runs 2 >"$out" 2>>"$work/$3.log" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        [ -s "$out" ] && break
        sleep 0.1
    done
    url=$(head -1 "$out" | awk '{print $NF}')
}

# Waits until every run of the daemon at $1 has finished.
wait_all() { # url token count
    while true; do
        local done
        done=$(PETRI_URL=$1 PETRI_TOKEN=$2 "$petri" list --json --limit 500 |
            jq '[.runs[] | select(.status == "COMPLETED" or .status == "FAILED" or .status == "CANCELLED")] | length')
        [ "$done" -ge "$3" ] && return
        sleep 0.2
    done
}

trivial_pipeline() { # dir i
    mkdir -p "$1"
    head -c 200000 /dev/urandom >"$1/input.bin"
    cat >"$1/pipeline.toml" <<EOF
[pipeline]
name = "trivial"
[inputs.data]
path = "input.bin"
[stages.a]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
[stages.b]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "a.out" }
[stages.c]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "b.out" }
EOF
}

lambda_pipeline() { # dir i: the lambda example, its QC made unique per run (no cache hits)
    mkdir -p "$1"
    ln -sf "$PWD"/examples/data/lambda/*.gz "$1/"
    sed -e "s#\.\./data/lambda/##" \
        -e "s/min-length = 30/min-length = $((30 + $2))/" examples/lambda/pipeline.toml >"$1/pipeline.toml"
}

# One measurement: prints stages per second. Args: backend daemons kind runs
measure() {
    local backend=$1 n=$2 kind=$3 runs=$4
    local data="$work/data-$backend-$n-$kind" db urls=() token
    db=$(fresh_db "$backend")
    mkdir -p "$data"
    "$petri" --data-dir "$data" --database "$db" plugin add "$plugins"/*.wasm >/dev/null 2>&1
    token=$("$petri" --data-dir "$data" --database "$db" token create --group bench --admin)
    for d in $(seq "$n"); do
        start "$data" "$db" "d$d" 30
        urls+=("$url")
    done
    for i in $(seq "$runs"); do "${kind}_pipeline" "$data/p$i" "$i"; done
    local t0 t1 stages
    t0=$(date +%s.%N)
    for i in $(seq "$runs"); do
        PETRI_URL=${urls[$(((i - 1) % n))]} PETRI_TOKEN=$token \
            "$petri" submit "$data/p$i/pipeline.toml" >/dev/null
    done
    wait_all "${urls[0]}" "$token" "$runs"
    t1=$(date +%s.%N)
    stages=$(PETRI_URL=${urls[0]} PETRI_TOKEN=$token "$petri" list --json --limit 500 |
        jq '[.runs[] | select(.status == "COMPLETED")] | length')
    [ "$stages" -eq "$runs" ] || { echo "measure: only $stages of $runs runs completed" >&2; exit 1; }
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    pids=()
    local per_run=3
    [ "$kind" = lambda ] && per_run=5
    echo "scale=2; $runs * $per_run / ($t1 - $t0)" | bc
}

# Rescue: SIGKILL the daemon executing a long run; seconds until another daemon took it over.
rescue() { # lease
    local data="$work/rescue-$1" db token b id
    db=$(fresh_db postgres)
    mkdir -p "$data"
    "$petri" --data-dir "$data" --database "$db" plugin add "$plugins"/*.wasm >/dev/null 2>&1
    token=$("$petri" --data-dir "$data" --database "$db" token create --group bench --admin)
    start "$data" "$db" a "$1"
    local a=$url pid_a=$pid
    mkdir -p "$data/long"
    head -c 1000 /dev/urandom >"$data/long/input.bin"
    printf '[inputs.data]\npath = "input.bin"\n[stages.s]\nmodule = "testkit"\nparams = { mode = "burn", record = 4000 }\ninputs = { data = "inputs.data" }\n' >"$data/long/pipeline.toml"
    id=$(PETRI_URL=$a PETRI_TOKEN=$token "$petri" submit "$data/long/pipeline.toml")
    until PETRI_URL=$a PETRI_TOKEN=$token "$petri" status "$id" --json | jq -e '.status == "RUNNING"' >/dev/null; do sleep 0.1; done
    start "$data" "$db" b "$1"
    b=$url
    local killed
    kill -9 "$pid_a"
    killed=$(date +%s.%N)
    until PETRI_URL=$b PETRI_TOKEN=$token "$petri" status "$id" --json |
        jq -e '[.events[] | select(.kind == "rescued")] | length > 0' >/dev/null; do sleep 0.1; done
    echo "scale=1; $(date +%s.%N) - $killed" | bc
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    pids=()
}

echo "| workload | backend | 1 daemon | 2 daemons | 3 daemons | 2 / 1 | 3 / 1 |"
echo "|---|---|---|---|---|---|---|"
for kind in ${KINDS:-trivial lambda}; do
    runs=$runs_trivial
    [ "$kind" = lambda ] && runs=$runs_lambda
    for backend in sqlite postgres; do
        s1=$(measure "$backend" 1 "$kind" "$runs")
        s2=$(measure "$backend" 2 "$kind" "$runs")
        s3=$(measure "$backend" 3 "$kind" "$runs")
        echo "| $kind ($runs runs) | $backend | $s1 | $s2 | $s3 | $(echo "scale=2; $s2 / $s1" | bc) | $(echo "scale=2; $s3 / $s1" | bc) |"
    done
done
for lease in 5 30; do
    echo "rescue after SIGKILL, lease $lease s: $(rescue "$lease") s"
done
