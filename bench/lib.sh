# Shared by bench/run.sh and bench/mirror.sh (sourced, not run).

# Deterministic pseudo-random bytes: AES-128-CTR over zeros, keyed by a name. Fast (~1 GB/s) and the same everywhere.
stream() { # NAME BYTES > file
  local key
  key="$(printf '%s' "$1" | openssl dgst -md5 -r | cut -c1-32)"
  { openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 -nosalt -in /dev/zero 2>/dev/null || true; } | head -c "$2"
}

# The 'big' scenario's CDN: the issue's knobs in MB/s (10^6 bytes/s); Hfdl.Hub takes megabits per second, so x8.
BIG_HUB_FLAGS="--conn-rate-mbps 200 --global-rate-mbps 4000 --latency-ms 20"
BIG_HUB_TEXT="25 MB/s per connection, 500 MB/s global, 20 ms latency"
