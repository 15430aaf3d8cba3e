#!/usr/bin/env bash
# The test command: installs the Debian packages the tests need when they are missing, then runs every test.
# qemu-user runs the CLI as an AVX2-only CPU, so the int8 path of such CPUs is tested on any x64 host;
# redis-server backs the stream-worker tests; chromium is the real browser the playground and report tests drive
# (through Playwright, which is pointed at it and never downloads one).
# Extra arguments go to `dotnet test` (e.g. --filter Quantization).
set -euo pipefail
cd "$(dirname "$0")"
need=()
if [ "$(uname -m)" = x86_64 ] && ! command -v qemu-x86_64 >/dev/null 2>&1; then need+=(qemu-user); fi
# Each Redis test starts its own redis-server on a free loopback port and stops it.
if [ ! -x /usr/bin/redis-server ]; then need+=(redis-server); fi
if [ ! -x /usr/bin/chromium ]; then need+=(chromium); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need: ${need[*]} (install with: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
exec dotnet test -c Release "$@"
