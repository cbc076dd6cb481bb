#!/usr/bin/env bash
# Publishes hfdl as one self-contained NativeAOT binary for linux-x64 and checks that it runs.
# Trimming and AOT analysis warnings are errors (TreatWarningsAsErrors). Needs clang and zlib1g-dev:
#   apt-get install -y clang zlib1g-dev
# Usage: build/publish-aot.sh [output-folder]   (default: artifacts/aot/linux-x64)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-artifacts/aot/linux-x64}"
for tool in clang; do
    command -v "$tool" >/dev/null || { echo "publish-aot: $tool is missing; install it with: apt-get install -y clang zlib1g-dev" >&2; exit 1; }
done
start=$(date +%s)
dotnet publish src/Hfdl.Cli -c Release -r linux-x64 -p:PublishAot=true -o "$out" --nologo
binary="$out/hfdl"
test -x "$binary" || { echo "publish-aot: no binary at $binary" >&2; exit 1; }
"$binary" --version
"$binary" --help >/dev/null
"$binary" download --help >/dev/null
echo "publish-aot: $(du -h "$binary" | cut -f1) $binary in $(( $(date +%s) - start )) s"
