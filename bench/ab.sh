#!/usr/bin/env bash
# Interleaved A/B of two hfdl binaries on one bench scenario: A, B, A, B, ... against one Hfdl.Hub, so both see the
# same machine, disk and hub state. On the shared 2-core VM single runs vary by 15% and more from minute to minute;
# only interleaved pairs tell a 5% change (this is how the 2026-12-06 regression was bisected to one commit).
# Needs the scenario's data from a bench/run.sh run (bench/.data). A benchmark tool, not a test: CI does not run it.
#
#   bench/ab.sh --a OLD/hfdl --b NEW/hfdl [--scenario big] [--runs 6] [--args "--no-xet"]
#   bench/ab.sh --a hfdl --b hfdl --a-args --no-xet --scenario xet    # one binary, two ways (A plain, B native Xet)
#
# Build a binary of any commit with: git worktree add /tmp/old COMMIT && /tmp/old/build/publish-aot.sh /tmp/old-aot
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

A=""; B=""; SCENARIO=big; RUNS=6; ARGS=""; A_ARGS=""; B_ARGS=""; DATA_DIR="$BENCH_DIR/.data"; HUB="$BENCH_DIR/.build/hub/Hfdl.Hub"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --a) A="$2"; shift 2 ;;
    --b) B="$2"; shift 2 ;;
    --scenario) SCENARIO="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --args) ARGS="$2"; shift 2 ;;
    --a-args) A_ARGS="$2"; shift 2 ;;
    --b-args) B_ARGS="$2"; shift 2 ;;
    --data) DATA_DIR="$2"; shift 2 ;;
    --hub) HUB="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ab.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[[ -x "$A" && -x "$B" ]] || { echo "ab.sh: --a and --b must name two hfdl binaries" >&2; exit 2; }
[[ -x "$HUB" ]] || { echo "ab.sh: no Hfdl.Hub at $HUB (run bench/run.sh once, or pass --hub)" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: --runs needs a positive number" >&2; exit 2; }
case "$SCENARIO" in
  big|mixed|xet) FLAGS="$BIG_HUB_FLAGS" ;;
  many) FLAGS="--latency-ms 30" ;;
  raw) FLAGS="" ;;
  *) echo "ab.sh: unknown scenario '$SCENARIO' (big, many, raw, mixed, xet)" >&2; exit 2 ;;
esac
[[ -d "$DATA_DIR/hub/models/bench/$SCENARIO" ]] || { echo "ab.sh: no data for '$SCENARIO' in $DATA_DIR (run bench/run.sh --scenario $SCENARIO once)" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hfdl-ab.XXXXXX")"
# shellcheck disable=SC2086
"$HUB" --root "$DATA_DIR/hub" --urls http://127.0.0.1:0 --static-repos $FLAGS > "$WORK/hub.log" 2>&1 &
HUB_PID=$!
trap 'kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for ((i = 0; i < 100; i++)); do grep -q 'serving' "$WORK/hub.log" 2>/dev/null && break; sleep 0.1; done
URL="$(sed -n 's/.* at \(http:\/\/[0-9.:]*\) (CDN.*/\1/p' "$WORK/hub.log" | head -1)"
[[ -n "$URL" ]] || { echo "ab.sh: Hfdl.Hub did not start: $(cat "$WORK/hub.log")" >&2; exit 1; }
# The hub's first listing of a repo hashes (and for Xet chunks) its files: not part of any timing.
curl -sSf -o /dev/null "$URL/api/models/bench/$SCENARIO/tree/main?recursive=true"

one() { # LABEL BINARY EXTRA_ARGS -> prints "LABEL wall user sys"
  rm -rf "$WORK/out" "$WORK/home"; sync
  # shellcheck disable=SC2086
  /usr/bin/time -f "$1 %e %U %S" -o "$WORK/time" env HF_ENDPOINT="$URL" HF_HOME="$WORK/home" "$2" download "bench/$SCENARIO" \
    --local-dir "$WORK/out" $ARGS $3 > "$WORK/run.log" 2>&1 || { tail -5 "$WORK/run.log" >&2; echo "ab.sh: $2 failed" >&2; exit 1; }
  cat "$WORK/time"
}

results=()
for ((r = 1; r <= RUNS; r++)); do
  for side in A B; do
    bin="$A"; extra="$A_ARGS"; [[ "$side" == B ]] && bin="$B" && extra="$B_ARGS"
    line="$(one "$side" "$bin" "$extra")"; results+=("$line"); echo "run $r: $line" >&2
  done
done
median() { LC_ALL=C sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "scenario $SCENARIO, $RUNS interleaved runs each (wall s: median, all; CPU s user+sys: median)"
for side in A B; do
  walls="$(printf '%s\n' "${results[@]}" | awk -v s="$side" '$1 == s {print $2}')"
  cpus="$(printf '%s\n' "${results[@]}" | awk -v s="$side" '$1 == s {print $3 + $4}')"
  bin="$A"; extra="$A_ARGS"; [[ "$side" == B ]] && bin="$B" && extra="$B_ARGS"
  printf '%s  median %s  [%s]  cpu %s  %s %s\n' "$side" "$(median <<< "$walls")" "$(tr '\n' ' ' <<< "$walls" | sed 's/ $//')" "$(median <<< "$cpus")" "$bin" "$extra"
done
