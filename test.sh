#!/usr/bin/env bash
# Runs every hfdl test: unit tests, integration tests against Hfdl.Hub on loopback, and the fidelity check with the
# official @huggingface/hub client (installed here with npm ci on first use). Prints "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d tests/npm-fidelity/node_modules/@huggingface/hub ]; then
  npm ci --prefix tests/npm-fidelity --no-audit --no-fund --loglevel=error
fi

log=$(mktemp)
status=0
dotnet test Hfdl.slnx -c Release --nologo 2>&1 | tee "$log" || status=$?

# dotnet test prints one "Passed!/Failed!  - Failed: N, Passed: N, Skipped: N, Total: N" line per test project.
awk '/(Passed|Failed)! +- +Failed:/ {
       for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1)); if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
