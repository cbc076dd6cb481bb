#!/usr/bin/env bash
# hfdl serve benchmark (issue 14): N concurrent hfdl clients of the 2 GiB 'big' repo through one hfdl serve, from
# Hfdl.Hub with the 'big' caps of run.sh (25 MB/s per connection, 500 MB/s global, 20 ms latency).
# Reports: bytes the upstream sent / repo size (target 1.0x, plus at most one segment per resume), and the last
# client's time / one direct download's time (target <= 1.2). Prints the report; writes bench/results/<date>-mirror.md.
# bench/run.sh runs it as its 'mirror' scenario, with its own binaries and data cache.
#
# usage: bench/mirror.sh [--clients N] [--data DIR] [--no-save] [--hfdl PATH] [--hub PATH] [--size BYTES]
# hfdl and Hfdl.Hub: by default the Release build of this checkout (dotnet build -c Release), JIT, not NativeAOT;
# --hfdl and --hub name other binaries (run.sh passes its NativeAOT hfdl). --size: another repo size, for a quick
# check of the script (a repo of its own, bench/mirror-<size>); the figures are the 2 GiB repo's.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
CLIENTS=8
DATA_DIR="$BENCH_DIR/.data"
SAVE=1
HFDL=(dotnet "$REPO_DIR/src/Hfdl.Cli/bin/Release/net10.0/hfdl.dll")
HUB=(dotnet "$REPO_DIR/src/Hfdl.Hub/bin/Release/net10.0/Hfdl.Hub.dll")
GIB=$((1024 * 1024 * 1024))
SIZE=$((2 * GIB))
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clients) CLIENTS="$2"; shift 2 ;;
    --data) DATA_DIR="$2"; shift 2 ;;
    --no-save) SAVE=0; shift ;;
    --hfdl) HFDL=("$2"); shift 2 ;;
    --hub) HUB=("$2"); shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "mirror.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[[ "$CLIENTS" =~ ^[1-9][0-9]*$ ]] || { echo "mirror.sh: --clients needs a positive number" >&2; exit 2; }
[[ "$SIZE" =~ ^[1-9][0-9]*$ ]] || { echo "mirror.sh: --size needs a positive number of bytes" >&2; exit 2; }

log() { printf '[mirror-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[mirror-bench] FAILED: %s\n' "$*" >&2; exit 1; }

for program in "${HFDL[-1]}" "${HUB[-1]}"; do
  [[ -f "$program" ]] || die "$program is missing: build first (dotnet build Hfdl.slnx -c Release), or name the binaries with --hfdl and --hub"
done

HUB_ROOT="$DATA_DIR/hub"
NAME=big
[[ $SIZE -eq $((2 * GIB)) ]] || NAME="mirror-$SIZE"
REPO="$HUB_ROOT/models/bench/$NAME"
mkdir -p "$REPO"
if [[ ! -f "$REPO/model.safetensors" || $(stat -c %s "$REPO/model.safetensors") -ne $SIZE ]]; then
  log "generating the $SIZE-byte file (the bytes of run.sh's 'big')"
  stream big-2gib "$SIZE" > "$REPO/model.safetensors"
fi
EXPECTED="$(openssl dgst -sha256 -r "$REPO/model.safetensors" | cut -d' ' -f1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hfdl-mirror-bench.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() { # FILE PATTERN
  local i
  for ((i = 0; i < 300; i++)); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done
  die "timed out waiting for '$2' in $1: $(cat "$1")"
}

# shellcheck disable=SC2086
"${HUB[@]}" --root "$HUB_ROOT" --urls http://127.0.0.1:0 --static-repos $BIG_HUB_FLAGS > "$WORK/hub.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/hub.log" serving
HUB_URL="$(sed -n 's/.* at \(http:\/\/[0-9.:]*\) (CDN.*/\1/p' "$WORK/hub.log" | head -1)"
curl -sSf -o /dev/null "$HUB_URL/api/models/bench/$NAME/tree/main?recursive=true" || die "the hub does not list bench/$NAME"

check() { # FILE
  [[ "$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)" == "$EXPECTED" ]] || die "$1 does not match the source's sha256"
}
now() { date +%s.%N; }

log "direct: one hfdl download from the hub"
start=$(now)
env HF_ENDPOINT="$HUB_URL" HF_HOME="$WORK/direct-home" "${HFDL[@]}" download "bench/$NAME" --local-dir "$WORK/direct" --quiet >"$WORK/direct.log" 2>&1 \
  || die "direct download failed: $(cat "$WORK/direct.log")"
DIRECT=$(echo "$(now) - $start" | bc -l)
check "$WORK/direct/model.safetensors"
rm -rf "$WORK/direct"

"${HFDL[@]}" serve --upstream "$HUB_URL" --store "$WORK/store" --urls http://127.0.0.1:0 > "$WORK/serve.log" 2> "$WORK/serve.err" &
PIDS+=($!)
wait_for "$WORK/serve.err" "HF_ENDPOINT="
MIRROR_URL="$(sed -n 's/.*HF_ENDPOINT=\(http:\/\/[0-9.:]*\)\..*/\1/p' "$WORK/serve.err" | head -1)"

log "mirror: $CLIENTS concurrent hfdl clients through hfdl serve"
start=$(now)
client_pids=()
for ((i = 0; i < CLIENTS; i++)); do
  ( env HF_ENDPOINT="$MIRROR_URL" HF_HOME="$WORK/home-$i" "${HFDL[@]}" download "bench/$NAME" --local-dir "$WORK/client-$i" --quiet \
      >"$WORK/client-$i.log" 2>&1 && echo "$(now)" > "$WORK/client-$i.done" ) &
  client_pids+=($!)
done
for pid in "${client_pids[@]}"; do wait "$pid" || true; done
LAST=0
for ((i = 0; i < CLIENTS; i++)); do
  [[ -f "$WORK/client-$i.done" ]] || die "client $i failed: $(cat "$WORK/client-$i.log")"
  check "$WORK/client-$i/model.safetensors"
  t=$(echo "$(cat "$WORK/client-$i.done") - $start" | bc -l)
  LAST=$(echo "if ($t > $LAST) $t else $LAST" | bc -l)
  rm -rf "$WORK/client-$i"
done
metrics="$(curl -sSf "$MIRROR_URL/metrics")"
metric() { echo "$metrics" | awk -v name="$1" '$1 == name {print $2}'; }
UPSTREAM=$(metric hfdl_serve_upstream_bytes_total)
BYTES_RATIO=$(echo "$UPSTREAM / $SIZE" | bc -l)
TIME_RATIO=$(echo "$LAST / $DIRECT" | bc -l)
verdict() { if [[ $(echo "$1" | bc -l) -eq 1 ]]; then echo met; else echo "**MISSED**"; fi; }

REPORT="$(cat <<EOF
# hfdl serve: $CLIENTS concurrent clients of a $SIZE-byte repo ($(date -u +%Y-%m-%dT%H:%MZ))

Command: \`bench/mirror.sh --clients $CLIENTS\`. Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM.
Upstream: Hfdl.Hub on loopback, $BIG_HUB_TEXT (run.sh's 'big' caps).
hfdl (clients and serve): ${HFDL[*]}; Hfdl.Hub: ${HUB[*]}; all on this machine.

- one direct hfdl download: $(printf '%.2f' "$DIRECT") s
- $CLIENTS clients through hfdl serve, last one done after: $(printf '%.2f' "$LAST") s
- bytes from the upstream: $UPSTREAM = $(printf '%.4f' "$BYTES_RATIO") x the repo's $SIZE bytes (target 1.0x) $(verdict "$UPSTREAM == $SIZE")
- last client / direct: $(printf '%.2f' "$TIME_RATIO") (target <= 1.2) $(verdict "$TIME_RATIO <= 1.2")
- mirror counters: misses $(metric hfdl_serve_cache_misses_total), joins $(metric hfdl_serve_single_flight_joins_total), hits $(metric hfdl_serve_cache_hits_total), served $(metric hfdl_serve_served_bytes_total) bytes
EOF
)"
echo "$REPORT"
if [[ $SAVE -eq 1 ]]; then
  mkdir -p "$BENCH_DIR/results"
  echo "$REPORT" > "$BENCH_DIR/results/$(date -u +%Y-%m-%d-%H%M)-mirror.md"
fi
