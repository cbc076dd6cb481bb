#!/usr/bin/env bash
# hfdl benchmark: hfdl vs curl (single stream) vs aria2c (-x16 -s16 -j16 -k1M) against Hfdl.Hub on loopback.
# See bench/README.md. A benchmark, not a test: CI does not run it.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

SCENARIOS_ALL=(big many raw mixed xet mirror)
SCENARIOS=("${SCENARIOS_ALL[@]}")
TOOLS=(hfdl aria2c curl)
RUNS=3
KEEP=0
REBUILD=0
DATA_DIR="$BENCH_DIR/.data"
OUT_DIR=""
BUILD_DIR="$BENCH_DIR/.build"
RESULTS_DIR="$BENCH_DIR/results"
HFDL_ARGS=""
HFDL_BIN=""
SAVE=1
TOOL_TIMEOUT=900
MIRROR_CLIENTS=8

usage() {
  cat <<'EOF'
usage: bench/run.sh [options]
  --scenario NAME   run only this scenario (big, many, raw, mixed, xet, mirror); repeatable; default: all
  --runs N          timed runs per tool and scenario (default 3; the median is reported)
  --keep            keep every run's downloaded files in DATA/out/<run-id>/ (default: deleted after verification)
  --tools LIST      comma-separated subset of hfdl,aria2c,curl (default: all three; the xet scenario times hfdl-xet, hfdl-plain, hfdl-warm)
  --hfdl-args ARGS  extra arguments for hfdl, e.g. "-t 32" (default: none = hfdl's defaults)
  --hfdl PATH       time this hfdl binary instead of the one published to bench/.build (e.g. a ReadyToRun build)
  --data DIR        data cache folder (default bench/.data; generated once, reused)
  --out DIR         where the tools download to (default DATA/out)
  --rebuild         publish hfdl and Hfdl.Hub again even if bench/.build is up to date
  --no-save         do not write bench/results/<date>.md
  --timeout SEC     kill a tool run after SEC seconds and fail (default 900)
  --mirror-clients N  concurrent hfdl clients of the mirror scenario (default 8)
EOF
}

ORIGINAL_ARGS=("$@")
picked_scenarios=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scenario) picked_scenarios+=("$2"); shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --tools) IFS=',' read -r -a TOOLS <<< "$2"; shift 2 ;;
    --hfdl-args) HFDL_ARGS="$2"; shift 2 ;;
    --hfdl) HFDL_BIN="$2"; shift 2 ;;
    --data) DATA_DIR="$2"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    --rebuild) REBUILD=1; shift ;;
    --no-save) SAVE=0; shift ;;
    --timeout) TOOL_TIMEOUT="$2"; shift 2 ;;
    --mirror-clients) MIRROR_CLIENTS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ ${#picked_scenarios[@]} -gt 0 ]]; then
  for s in "${picked_scenarios[@]}"; do
    [[ " ${SCENARIOS_ALL[*]} " == *" $s "* ]] || { echo "run.sh: unknown scenario '$s' (big, many, raw, mixed, xet, mirror)" >&2; exit 2; }
  done
  SCENARIOS=("${picked_scenarios[@]}")
fi
for t in "${TOOLS[@]}"; do
  [[ "$t" =~ ^(hfdl|aria2c|curl)$ ]] || { echo "run.sh: unknown tool '$t' (hfdl, aria2c, curl)" >&2; exit 2; }
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive number" >&2; exit 2; }
DATA_DIR="$(mkdir -p "$DATA_DIR" && cd "$DATA_DIR" && pwd)"
# Everything one invocation writes lives under its own id, so two invocations sharing a data cache do not collide.
RUN_ID="$(date +%Y%m%d-%H%M%S)-$$"
LOG_DIR="$DATA_DIR/logs/$RUN_ID"
WORK_DIR="$DATA_DIR/work/$RUN_ID"
OUT_DIR="${OUT_DIR:-$DATA_DIR/out}/$RUN_ID"
mkdir -p "$OUT_DIR" "$LOG_DIR" "$WORK_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] FAILED: %s\n' "$*" >&2; exit 1; }

GIB=$((1024 * 1024 * 1024))
MIB=$((1024 * 1024))

# ---------------------------------------------------------------- 1. tools and build
install_missing() {
  local need=()
  command -v aria2c >/dev/null || need+=(aria2)
  [[ -x /usr/bin/time ]] || need+=(time)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  if [[ -z "$HFDL_BIN" ]]; then
    command -v clang >/dev/null || need+=(clang)
    [[ -f /usr/include/zlib.h ]] || need+=(zlib1g-dev)
  fi
  if [[ ${#need[@]} -gt 0 ]]; then
    log "installing ${need[*]} with apt-get"
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

HFDL="${HFDL_BIN:-$BUILD_DIR/hfdl/hfdl}"
HUB="$BUILD_DIR/hub/Hfdl.Hub"

build() {
  local stamp="$BUILD_DIR/.stamp"
  if [[ $REBUILD -eq 0 && -x "$HFDL" && -x "$HUB" && -f "$stamp" ]] \
     && [[ -z "$(find "$REPO_DIR/src" "$REPO_DIR/Directory.Build.props" "$REPO_DIR/Directory.Packages.props" -newer "$stamp" -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \) -print -quit)" ]]; then
    log "hfdl and Hfdl.Hub are up to date in $BUILD_DIR"
    return
  fi
  # hfdl is timed as users get it: the NativeAOT binary (build/publish-aot.sh). It starts in milliseconds and spends
  # no CPU on the JIT, which matters on a machine whose cores the hub shares. Without clang, fall back to a JIT build.
  if command -v clang >/dev/null; then
    log "publishing hfdl (NativeAOT) and Hfdl.Hub (Release, framework-dependent) to $BUILD_DIR"
    mkdir -p "$BUILD_DIR"
    "$REPO_DIR/build/publish-aot.sh" "$BUILD_DIR/hfdl" >"$BUILD_DIR/publish-aot.log" 2>&1 || die "build/publish-aot.sh failed, see $BUILD_DIR/publish-aot.log"
  else
    log "clang is missing (apt-get install -y clang zlib1g-dev): publishing hfdl as a JIT build, which costs more CPU"
    dotnet publish "$REPO_DIR/src/Hfdl.Cli" -c Release -o "$BUILD_DIR/hfdl" --nologo -v q >&2 || die "dotnet publish of hfdl failed"
  fi
  dotnet publish "$REPO_DIR/src/Hfdl.Hub" -c Release -o "$BUILD_DIR/hub" --nologo -v q >&2 || die "dotnet publish of Hfdl.Hub failed"
  touch "$stamp"
}

# ---------------------------------------------------------------- 2. data
HUB_ROOT="$DATA_DIR/hub"
MANIFESTS="$DATA_DIR/manifests"
DATA_VERSION=1

manifest_of() { # DIR > "sha256 *path" lines, sorted by path
  (cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r openssl dgst -sha256 -r) | LC_ALL=C sort -k2
}

gen_scenario() {
  local s="$1" repo="$HUB_ROOT/models/bench/$1" done="$DATA_DIR/.ready-$1-v$DATA_VERSION"
  [[ -f "$done" && -d "$repo" ]] && return
  log "generating data for '$s' in $repo (once)"
  rm -rf "$repo"
  mkdir -p "$repo" "$MANIFESTS"
  case "$s" in
    big)
      stream big-2gib "$((2 * GIB))" > "$repo/model.safetensors" ;;
    raw)
      # The same 2 GiB of bytes as big (a hard link: no extra disk, one page-cache copy), under a plain name.
      gen_scenario big
      ln "$HUB_ROOT/models/bench/big/model.safetensors" "$repo/data.bin" 2>/dev/null \
        || cp "$HUB_ROOT/models/bench/big/model.safetensors" "$repo/data.bin" ;;
    many)
      # 1500 regular (non-LFS) files of 1 KiB..200 KiB in nested folders: a/b/c with 3 levels.
      local pool="$DATA_DIR/many.pool" total=0 i size
      local -a sizes=()
      RANDOM=4242
      for ((i = 0; i < 1500; i++)); do
        size=$(( 1024 + ((RANDOM << 15) | RANDOM) % (200 * 1024 - 1024 + 1) ))
        sizes+=("$size"); total=$((total + size))
      done
      stream many-pool "$total" > "$pool"
      local offset=0 dir
      for ((i = 0; i < 1500; i++)); do
        dir="$repo/part-$((i % 6))/group-$((i / 6 % 10))"
        (( i % 3 == 0 )) && dir="$dir/deep-$((i % 4))"
        mkdir -p "$dir"
        dd if="$pool" of="$dir/item-$(printf '%04d' "$i").txt" bs=64K iflag=skip_bytes,count_bytes \
           skip="$offset" count="${sizes[$i]}" status=none
        offset=$((offset + sizes[i]))
      done
      rm -f "$pool" ;;
    xet)
      # A Xet-backed 2 GiB model (main) and its earlier revision v1 (a tag): v1 is big's bytes, main the same with 64
      # stretches of 1 MiB rewritten, one every 32 MiB (3.1% of the content, scattered). The hub orders a repo's
      # revisions by commit date (the newest file's mtime) when it packs chunks: v1 must be the older one.
      gen_scenario big
      local v1="$DATA_DIR/xet-v1" i
      rm -rf "$v1"; mkdir -p "$v1"
      ln "$HUB_ROOT/models/bench/big/model.safetensors" "$v1/model.safetensors" 2>/dev/null \
        || cp "$HUB_ROOT/models/bench/big/model.safetensors" "$v1/model.safetensors"
      touch -d '2024-01-01 00:00:00 UTC' "$v1/model.safetensors"
      cp "$v1/model.safetensors" "$repo/model.safetensors"
      for ((i = 0; i < 64; i++)); do
        stream "xet-edit-$i" "$MIB" | dd of="$repo/model.safetensors" bs=1M seek="$((i * 32 + 7))" count=1 iflag=fullblock conv=notrunc status=none
      done
      touch -d '2024-06-01 00:00:00 UTC' "$repo/model.safetensors"
      printf '{"xet": true, "revisions": {"v1": {"kind": "tag", "folder": "../../../xet-v1"}}}\n' > "$HUB_ROOT/models/bench/xet.hub.json" ;;
    mixed)
      local n
      for n in 1 2 3 4; do
        stream "mixed-shard-$n" "$((600 * MIB))" > "$repo/model-0000$n-of-00004.safetensors"
      done
      # 10 small regular files, 2 KB .. 3 MB, like a model's config and tokenizer files.
      local names=(config.json generation_config.json tokenizer.json tokenizer_config.json special_tokens_map.json
                   vocab.txt merges.txt README.md model.safetensors.index.json added_tokens.json)
      local small=(2048 1024 3000000 40000 600 900000 450000 8000 30000 300)
      for n in "${!names[@]}"; do
        { stream "mixed-small-$n" "${small[$n]}" | base64 -w 100 | head -c "${small[$n]}" > "$repo/${names[$n]}"; } || true
        [[ $(stat -c %s "$repo/${names[$n]}") -eq ${small[$n]} ]] || die "could not write $repo/${names[$n]}"
      done ;;
  esac
  manifest_of "$repo" > "$MANIFESTS/$s.sha256"
  touch "$done"
}

scenario_bytes() { (cd "$HUB_ROOT/models/bench/$1" && find . -type f -printf '%s\n' | awk '{t+=$1} END {printf "%.0f", t}'); }
scenario_files() { wc -l < "$MANIFESTS/$1.sha256" | tr -d ' '; }

# ---------------------------------------------------------------- 3. hub
hub_flags() {
  case "$1" in
    big|mixed|xet) echo "$BIG_HUB_FLAGS" ;;
    many) echo "--latency-ms 30" ;;
    raw) echo "" ;;
  esac
}
hub_knobs_text() {
  case "$1" in
    big|mixed|xet) echo "$BIG_HUB_TEXT" ;;
    many) echo "30 ms latency, no caps" ;;
    raw) echo "no caps, no latency" ;;
    mirror) echo "as big, $MIRROR_CLIENTS clients through hfdl serve" ;;
  esac
}

HUB_PID=""
HUB_URL=""
stop_hub() {
  if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  HUB_PID=""
}
cleanup() {
  stop_hub
  if declare -F delete_pending >/dev/null; then delete_pending; fi
  rm -rf "$WORK_DIR"
  [[ $KEEP -eq 1 ]] || rmdir "$OUT_DIR"/* "$OUT_DIR" 2>/dev/null || true
}
trap cleanup EXIT

start_hub() { # SCENARIO
  local s="$1" logf="$LOG_DIR/hub-$1.log" i
  rm -f "$logf" # else the wait below may see the last run's "serving" line before the new hub truncates it
  # --static-repos: the hub scans the repo once; its default per-request rescan costs ~20 ms CPU per request with
  # 1500 files, which made 'many' measure the hub's CPU instead of the clients.
  # shellcheck disable=SC2046
  "$HUB" --root "$HUB_ROOT" --urls http://127.0.0.1:0 --static-repos $(hub_flags "$s") > "$logf" 2>&1 &
  HUB_PID=$!
  for ((i = 0; i < 100; i++)); do
    if grep -q 'serving' "$logf" 2>/dev/null; then break; fi
    kill -0 "$HUB_PID" 2>/dev/null || die "Hfdl.Hub exited: $(cat "$logf")"
    sleep 0.1
  done
  HUB_URL="$(sed -n 's/.* at \(http:\/\/[0-9.:]*\) (CDN.*/\1/p' "$logf" | head -1)"
  [[ -n "$HUB_URL" ]] || die "Hfdl.Hub did not start: $(cat "$logf")"
  # Warm up: the first request of a repo hashes its files (sha256 of LFS files) and, for a Xet repo, chunks them and
  # builds its xorbs (about a minute for the two 2 GiB revisions of 'xet'); do it before any timing.
  curl -sSf -o /dev/null "$HUB_URL/api/models/bench/$s/tree/main?recursive=true" || die "Hfdl.Hub does not list bench/$s"
}

hub_cpu_ticks() { awk '{print $14 + $15}' "/proc/$HUB_PID/stat"; }

# ---------------------------------------------------------------- 4. tools
# Input files for the peers: every file's resolve URL (peers get the list for free; hfdl lists the repo itself).
write_peer_inputs() { # SCENARIO WORKDIR OUT
  local s="$1" work="$2" out="$3" path url
  : > "$work/aria2.txt"; : > "$work/curl.cfg"
  echo 'fail' >> "$work/curl.cfg"
  echo 'location' >> "$work/curl.cfg"
  echo 'create-dirs' >> "$work/curl.cfg"
  echo 'silent' >> "$work/curl.cfg"
  echo 'show-error' >> "$work/curl.cfg"
  while read -r _ path; do
    path="${path#\*}"
    url="$HUB_URL/bench/$s/resolve/main/$path"
    printf '%s\n  dir=%s\n  out=%s\n' "$url" "$out" "$path" >> "$work/aria2.txt"
    printf 'url = "%s"\noutput = "%s/%s"\n' "$url" "$out" "$path" >> "$work/curl.cfg"
  done < "$MANIFESTS/$s.sha256"
}

tool_command() { # TOOL SCENARIO WORKDIR OUT -> prints nothing, sets CMD array
  local tool="$1" s="$2" work="$3" out="$4"
  case "$tool" in
    hfdl)
      # shellcheck disable=SC2206
      CMD=(env HF_ENDPOINT="$HUB_URL" HF_HOME="$work/hf-home" "$HFDL" download "bench/$s" --local-dir "$out" $HFDL_ARGS) ;;
    hfdl-xet|hfdl-warm)
      # Native Xet; --json for the summary's bytes_fetched. hfdl-xet starts from an empty chunk cache, hfdl-warm from
      # one that holds revision v1 (see prepare_warm_cache).
      local home="$work/hf-home"; [[ "$tool" == hfdl-warm ]] && home="$work/warm-home"
      # shellcheck disable=SC2206
      CMD=(env HF_ENDPOINT="$HUB_URL" HF_HOME="$home" "$HFDL" download "bench/$s" --local-dir "$out" --json $HFDL_ARGS) ;;
    hfdl-plain)
      # shellcheck disable=SC2206
      CMD=(env HF_ENDPOINT="$HUB_URL" HF_HOME="$work/hf-home" "$HFDL" download "bench/$s" --local-dir "$out" --json --no-xet $HFDL_ARGS) ;;
    aria2c)
      CMD=(aria2c -x16 -s16 -j16 -k1M --input-file="$work/aria2.txt"
           --file-allocation=none --auto-file-renaming=false --allow-overwrite=true
           --console-log-level=warn --summary-interval=0 --download-result=hide --quiet=true) ;;
    curl)
      CMD=(curl --config "$work/curl.cfg") ;;
  esac
}

verify_output() { # SCENARIO OUT TOOL
  local s="$1" out="$2" tool="$3" got="$LOG_DIR/got.sha256" extra
  (cd "$out" && sed 's/^[0-9a-f]* \*//' "$MANIFESTS/$s.sha256" | tr '\n' '\0' | xargs -0 -r openssl dgst -sha256 -r 2>/dev/null) \
    | LC_ALL=C sort -k2 > "$got" || true
  if ! cmp -s "$got" "$MANIFESTS/$s.sha256"; then
    diff <(cut -c1-80 "$MANIFESTS/$s.sha256") <(cut -c1-80 "$got") | head -5 >&2 || true
    die "$tool's output for '$s' does not match the source files' sha256 (kept in $out)"
  fi
  # Nothing else than the repo's files, besides the tools' own hidden bookkeeping (.download_state, .hfdl.lock, *.aria2).
  extra="$(cd "$out" && find . -type f ! -path '*/.*' ! -name '*.aria2' -printf '%P\n' | LC_ALL=C sort \
           | comm -23 - <(sed 's/^[0-9a-f]* \*//' "$MANIFESTS/$s.sha256" | LC_ALL=C sort) | head -3)"
  [[ -z "$extra" ]] || die "$tool left unexpected files in $out: $extra"
}

# One untimed download through every path the tools use (resolve, 302/307, CDN ranges), so the hub's JIT has
# tiered up before the first timed run: else the first tool of run 1 (hfdl) pays for the hub's warm-up.
warm_up_hub() { # SCENARIO
  local s="$1" work="$WORK_DIR/$1" out="$OUT_DIR/$1/warm-up"
  command -v aria2c >/dev/null || return 0
  rm -rf "$out"; mkdir -p "$out" "$work"
  write_peer_inputs "$s" "$work" "$out"
  tool_command aria2c "$s" "$work" "$out"
  "${CMD[@]}" > "$LOG_DIR/$s-warm-up.log" 2>&1 || die "the warm-up download of '$s' failed: $LOG_DIR/$s-warm-up.log"
  discard_output "$s" "$out"
}

# ext4 does not reuse an inode for a while after it was deleted, and finds a free one by scanning past the recently
# deleted ones: after a few create-and-delete rounds of 1500 files, creating a file cost milliseconds of system time
# (perf: recently_deleted / find_inode_bit under ext4_create), growing run after run and hurting most the tool that
# creates the most files (hfdl: file + huggingface_hub metadata). A user downloads into a folder where nothing was just
# deleted, so outputs of scenarios with many files are deleted only when the scenario is over. Big outputs are
# deleted at once: kept, their dirty pages would be written back during the next runs.
PENDING_DELETE=()
discard_output() { # SCENARIO OUT
  if [[ "$(scenario_files "$1")" -gt 100 ]]; then PENDING_DELETE+=("$2"); else rm -rf "$2"; fi
}
delete_pending() {
  [[ ${#PENDING_DELETE[@]} -eq 0 ]] || rm -rf "${PENDING_DELETE[@]}"
  PENDING_DELETE=()
}

# The chunk cache a user has after downloading revision v1: made untimed before each hfdl-warm run, since each run
# adds main's new chunks to it.
prepare_warm_cache() { # SCENARIO WORKDIR
  local s="$1" work="$2"
  rm -rf "$work/warm-home" "$work/warm-v1"
  env HF_ENDPOINT="$HUB_URL" HF_HOME="$work/warm-home" "$HFDL" download "bench/$s" --revision v1 --local-dir "$work/warm-v1" -q \
    > "$LOG_DIR/$s-warm-cache.log" 2>&1 || die "downloading revision v1 of '$s' into the chunk cache failed: $LOG_DIR/$s-warm-cache.log"
  rm -rf "$work/warm-v1"
}

# The bytes_fetched of a run's --json summary ("-" when the tool printed none).
fetched_of() { sed -n 's/.*"event":"summary".*"bytes_fetched":\([0-9]*\).*/\1/p' "$1" | tail -1 | grep . || echo -; }

tools_for() { # SCENARIO -> the tools timed on it
  if [[ "$1" == xet ]]; then echo "hfdl-xet hfdl-plain hfdl-warm"; else echo "${TOOLS[*]}"; fi
}

RESULTS_TSV=""   # scenario tool run wall user sys rss_kb hub_cpu bytes_fetched
run_one() { # SCENARIO TOOL RUN
  local s="$1" tool="$2" run="$3" work="$WORK_DIR/$1" out="$OUT_DIR/$1/$2-run$3" tf="$LOG_DIR/time.txt"
  local logf="$LOG_DIR/$1-$2-run$3.log" t0 t1 h0 h1 rc=0
  rm -rf "$out"; mkdir -p "$out" "$work"; rm -rf "$work/hf-home"
  [[ "$tool" != hfdl-warm ]] || prepare_warm_cache "$s" "$work"
  write_peer_inputs "$s" "$work" "$out"
  tool_command "$tool" "$s" "$work" "$out"
  sync
  h0="$(hub_cpu_ticks)"
  t0="$(date +%s%N)"
  timeout "$TOOL_TIMEOUT" /usr/bin/time -f '%U %S %M' -o "$tf" "${CMD[@]}" > "$logf" 2>&1 || rc=$?
  t1="$(date +%s%N)"
  h1="$(hub_cpu_ticks)"
  [[ $rc -eq 0 ]] || { tail -20 "$logf" >&2; die "$tool on '$s' (run $run) exited with $rc; log: $logf"; }
  verify_output "$s" "$out" "$tool"
  local wall user sys rss hub
  wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"
  read -r user sys rss < <(tail -1 "$tf")
  hub="$(awk -v a="$h0" -v b="$h1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / hz}')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$tool" "$run" "$wall" "$user" "$sys" "$rss" "$hub" "$(fetched_of "$logf")" >> "$RESULTS_TSV"
  log "  $s $tool run $run: ${wall} s, fetched $(fetched_of "$logf") B, cpu $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') s, rss $((rss / 1024)) MB, hub cpu ${hub} s; sha256 ok"
  [[ $KEEP -eq 1 ]] || discard_output "$s" "$out"
}

# ---------------------------------------------------------------- 5. report
median() { LC_ALL=C sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print v[(NR+1)/2]} else {print (v[NR/2]+v[NR/2+1])/2}}'; }
col() { # SCENARIO TOOL FIELD-EXPRESSION -> values, one per run
  awk -F'\t' -v s="$1" -v t="$2" "\$1==s && \$2==t {print $3}" "$RESULTS_TSV"
}

report() {
  local s tool bytes wall cpu rss hub hw range
  echo "| scenario | tool | wall s (median) | wall min-max | MB/s | CPU s (user+sys) | peak RSS MB | Hub CPU s | hfdl/tool throughput |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for s in "${TIMED_SCENARIOS[@]}"; do
    bytes="$(scenario_bytes "$s")"
    hw="$(col "$s" hfdl '$4' | median)"
    for tool in $(tools_for "$s"); do
      wall="$(col "$s" "$tool" '$4' | median)"
      cpu="$(col "$s" "$tool" '$5+$6' | median)"
      rss="$(col "$s" "$tool" '$7' | LC_ALL=C sort -g | tail -1)"
      hub="$(col "$s" "$tool" '$8' | median)"
      range="$(col "$s" "$tool" '$4' | LC_ALL=C sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.1f-%.1f", lo, hi}')"
      awk -v s="$s" -v t="$tool" -v b="$bytes" -v w="$wall" -v c="$cpu" -v r="$rss" -v h="$hub" -v hw="$hw" -v rg="$range" 'BEGIN {
        ratio = (hw == "nan" || hw == "") ? "n/a" : (t == "hfdl" ? "1.00" : sprintf("%.2f", w / hw));
        printf "| %s | %s | %.2f | %s | %.0f | %.2f | %.0f | %.2f | %s |\n", s, t, w, rg, b / 1e6 / w, c, r / 1024, h, ratio }'
    done
  done
  echo
  echo "Sizes: $(for s in "${TIMED_SCENARIOS[@]}"; do printf '%s %s files / %.0f MB; ' "$s" "$(scenario_files "$s")" "$(awk -v b="$(scenario_bytes "$s")" 'BEGIN{print b/1e6}')"; done)"
  echo
  echo "### Targets (issues #3 and #13)"
  echo
  local have_h have_a have_c
  for s in "${TIMED_SCENARIOS[@]}"; do
    have_h="$(col "$s" hfdl '$4' | median)"; have_a="$(col "$s" aria2c '$4' | median)"; have_c="$(col "$s" curl '$4' | median)"
    bytes="$(scenario_bytes "$s")"
    if [[ "$s" == xet ]]; then
      local xw pw ww wf
      xw="$(col xet hfdl-xet '$4' | median)"; pw="$(col xet hfdl-plain '$4' | median)"; ww="$(col xet hfdl-warm '$4' | median)"
      wf="$(col xet hfdl-warm '$9' | median)"
      awk -v b="$bytes" -v xw="$xw" -v pw="$pw" -v ww="$ww" -v wf="$wf" -v r="$(awk -F'\t' '$1=="xet" {print $7}' "$RESULTS_TSV" | LC_ALL=C sort -g | tail -1)" '
        function line(name, value, goal, ok) { printf "- xet: %s: %s (target %s) **%s**\n", name, value, goal, ok ? "met" : "MISSED" }
        BEGIN {
          if (wf != "nan" && wf != "") line("second revision with a warm chunk cache fetches", sprintf("%.1f MB = %.1f%% of its %.0f MB (%.2f s)", wf / 1e6, 100 * wf / b, b / 1e6, ww), "<= 10%", wf <= 0.10 * b)
          if (xw != "nan" && pw != "nan") line("cold Xet throughput / plain-HTTPS throughput", sprintf("%.2f (%.2f s vs %.2f s)", pw / xw, xw, pw), ">= 0.90", pw / xw >= 0.9)
          line("peak RSS of every hfdl run", sprintf("%.0f MB", r / 1024), "< 200 MB", r / 1024 < 200)
        }'
      continue
    fi
    [[ "$have_h" == nan ]] && continue
    awk -v s="$s" -v b="$bytes" -v h="$have_h" -v a="$have_a" -v c="$have_c" -v r="$(col "$s" hfdl '$7' | LC_ALL=C sort -g | tail -1)" '
      function line(name, value, goal, ok) { printf "- %s: %s: %s (target %s) **%s**\n", s, name, value, goal, ok ? "met" : "MISSED" }
      BEGIN {
        mbps = b / 1e6 / h
        if (s == "big" || s == "mixed") line("hfdl throughput", sprintf("%.0f MB/s = %.2f x the 500 MB/s cap", mbps, mbps / 500), ">= 0.90 x", mbps >= 450)
        if (s == "big" && a != "nan") line("hfdl/aria2c throughput", sprintf("%.2f", a / h), ">= 1.10", a / h >= 1.1)
        if (s == "many" && a != "nan") line("hfdl/aria2c throughput", sprintf("%.2f", a / h), ">= 3.00", a / h >= 3)
        if (s == "raw" && c != "nan") line("hfdl wall / curl wall", sprintf("%.2f", h / c), "<= 1.25", h / c <= 1.25)
        line("hfdl peak RSS", sprintf("%.0f MB", r / 1024), "<= 150 MB", r / 1024 <= 150)
      }'
  done
  if [[ -n "$MIRROR_REPORT" ]]; then
    echo
    echo "### Mirror (issue 14): bench/mirror.sh"
    echo
    # mirror.sh's own report, its title a heading under this one.
    sed '1s/^# /#### /' <<< "$MIRROR_REPORT"
  fi
}

# The mirror scenario is bench/mirror.sh, run with this invocation's binaries and data cache (its 'big' repo).
MIRROR_REPORT=""
run_mirror() {
  MIRROR_REPORT="$("$BENCH_DIR/mirror.sh" --clients "$MIRROR_CLIENTS" --data "$DATA_DIR" --hfdl "$HFDL" --hub "$HUB" --no-save \
    2> "$LOG_DIR/mirror.log")" || { tail -20 "$LOG_DIR/mirror.log" >&2; die "bench/mirror.sh failed; log: $LOG_DIR/mirror.log"; }
  log "  mirror: $(grep -E 'bytes from the upstream|last client /' <<< "$MIRROR_REPORT" | tr '\n' ' ')"
}

# ---------------------------------------------------------------- main
install_missing
build
exec 9> "$DATA_DIR/.generate.lock"
flock 9 # another invocation may be generating the same data
TIMED_SCENARIOS=()
for s in "${SCENARIOS[@]}"; do
  if [[ "$s" == mirror ]]; then gen_scenario big; else gen_scenario "$s"; TIMED_SCENARIOS+=("$s"); fi
done
flock -u 9

RESULTS_TSV="$LOG_DIR/results.tsv"
: > "$RESULTS_TSV"
started="$(date +%s)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SCENARIOS[@]}"; do
  if [[ "$s" == mirror ]]; then
    log "scenario 'mirror': the 2 GiB 'big' repo through hfdl serve, $MIRROR_CLIENTS clients (bench/mirror.sh)"
    run_mirror
    continue
  fi
  log "scenario '$s': $(scenario_files "$s") files, $(scenario_bytes "$s") bytes; hub: $(hub_knobs_text "$s")"
  start_hub "$s"
  # Source files into the page cache, so no tool pays for the hub's disk reads.
  find "$HUB_ROOT/models/bench/$s" -type f -exec cat {} + > /dev/null
  log "  warm-up (untimed aria2c run)"
  warm_up_hub "$s"
  if [[ "$s" == xet ]]; then
    log "  warm-up (untimed native Xet run)"
    prepare_warm_cache "$s" "$WORK_DIR/$s"
  fi
  for ((run = 1; run <= RUNS; run++)); do
    for tool in $(tools_for "$s"); do
      run_one "$s" "$tool" "$run"
    done
  done
  stop_hub
  delete_pending
done
elapsed=$(( $(date +%s) - started ))

table="$(report)"
header="$(cat <<EOF
## hfdl benchmark, $(date '+%Y-%m-%d %H:%M %Z')

- command: \`bench/run.sh$([[ ${#ORIGINAL_ARGS[@]} -eq 0 ]] || printf ' %q' "${ORIGINAL_ARGS[@]}")\`
- commit: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')
- machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)
- tools: $("$HFDL" --version 2>/dev/null | head -1 | sed 's/^/hfdl /'); $(aria2c --version | head -1); $(curl --version | head -1 | cut -d' ' -f1-2)
- runs: $RUNS per tool (wall, MB/s, CPU, Hub CPU: median; RSS: the largest); hfdl: ${HFDL_BIN:-bench/.build/hfdl/hfdl} ${HFDL_ARGS:-(default options)}; took ${elapsed} s
- Hub knobs: $(for s in "${SCENARIOS[@]}"; do printf '%s: %s; ' "$s" "$(hub_knobs_text "$s")"; done)
EOF
)"
printf '%s\n\n%s\n' "$header" "$table"
if [[ $SAVE -eq 1 ]]; then
  mkdir -p "$RESULTS_DIR"
  file="$RESULTS_DIR/$(date +%Y-%m-%d-%H%M).md"
  printf '%s\n\n%s\n\nRaw runs (scenario, tool, run, wall s, user s, sys s, max RSS KB, Hub CPU s, bytes fetched):\n\n```\n%s\n```\n' \
    "$header" "$table" "$(cat "$RESULTS_TSV")" > "$file"
  log "saved $file"
fi
