#!/usr/bin/env bash
# Server throughput: BERT-base answering one SST-2 sentence per request from concurrent clients, against the same
# sentences classified one by one in the same process, at each client count and in overload (128 clients, limit 16).
# Usage: bench/serve.sh [clients,clients,...] [requests] [none|int8]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" serve "$shared" "${1:-1,8,32,128}" "${2:-400}" "${3:-none}"
