#!/usr/bin/env bash
# Requests that try to hurt the server (nuansa serve, BERT-base, its own process): long-text windows with a one-token
# step and a client that leaves; then many clients sending 32 inputs of 60,000 characters each with truncate: true.
# Reports status codes, the server's peak resident memory and /health latency meanwhile.
# Usage: bench/overload.sh [clients,clients,...] [seconds per run]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
dotnet build "$here/../src/Nuansa.Cli" -c Release --nologo -v q >/dev/null
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
lscpu | grep -E "^(Model name|CPU family|Model|Flags)" | sed 's/^Flags:.*\(avx512f\).*/Flags: ... avx512f .../' | head -4
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" overload "$shared" "$here/../src/Nuansa.Cli/bin/Release/net10.0/Nuansa.Cli.dll" "${1:-64,128}" "${2:-20}"
