#!/usr/bin/env bash
# Server throughput: BERT-base answering one SST-2 sentence per request from concurrent clients, against the same
# sentences classified one by one in the same process. Usage: bench/serve.sh [clients] [requests] [none|int8]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" serve "$shared" "${1:-8}" "${2:-200}" "${3:-none}"
