#!/usr/bin/env bash
# Dev helper: gateway (event clock) + replay + eval for one trace. Usage: scripts/e2e.sh SITE TRACE [CAMPAIGNS]
set -eu
site=$1; trace=$2; camp=${3:-}
d=$(mktemp -d)
./bin/instore-gateway.mjs --site "$site" --port 0 --http-port 0 --clock event --data "$d" ${camp:+--campaigns $camp} > "$d/gw.log" 2>&1 &
pid=$!
for i in $(seq 50); do grep -q mqtt:// "$d/gw.log" && break; sleep 0.2; done
url=$(grep -o 'mqtt://[0-9.:]*' "$d/gw.log")
./bin/instore-replay.mjs --trace "$trace" --broker "$url" --record "$d/rec.jsonl" | tail -1
kill $pid; wait $pid || true
./bin/instore-eval.mjs --site "$site" --trace "$trace" --recording "$d/rec.jsonl"
echo "recording: $d/rec.jsonl"
