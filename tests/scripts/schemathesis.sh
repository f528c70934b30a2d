#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the OpenAPI document of a live `petri serve`: a daemon on a
# free port with a temp data dir, an admin token and the testkit module uploaded; every check.
# Usage: tests/scripts/schemathesis.sh [PETRI_BINARY]   (default: $CARGO_TARGET_DIR/release/petri)
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
petri="${1:-$target/release/petri}"
[ -x "$petri" ] || cargo build --release --locked -p petri-host --bin petri
work="$(mktemp -d)"
daemon=""
cleanup() {
    if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Granted every priority: a schema-valid run may ask for any (docs/server.md, priority grants).
token="$("$petri" --data-dir "$work/data" token create --group schemathesis --admin --name schemathesis \
    --allow-priority urgent --allow-priority clinical)"
# A generous rate limit: schemathesis sends hundreds of requests in a burst.
"$petri" --data-dir "$work/data" serve --listen 127.0.0.1:0 \
    --instruments examples/instruments/core.toml \
    --rate-limit-per-second 10000 --rate-limit-burst 10000 >"$work/serve.out" 2>"$work/serve.err" &
daemon=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/serve.out" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/.*listening on //p' "$work/serve.out" | head -1)"
[ -n "$url" ] || { cat "$work/serve.err"; exit 1; }

# Something to find: a module (so module routes have a real id) and one finished run.
wasm="$(find "$target/release/build" -path '*wasm32-wasip2/release/petri_plugin_testkit.wasm' | head -1)"
if [ -n "$wasm" ]; then
    curl -sf -H "Authorization: Bearer $token" --data-binary "@$wasm" "$url/v1/modules" >/dev/null
fi

# From the temp dir: schemathesis keeps its cache (.schemathesis/) in the working directory.
config="$PWD/tests/scripts/schemathesis.toml"
cd "$work"
schemathesis --config-file "$config" run "$url/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-examples 25 \
    --workers 1 \
    --suppress-health-check all
