#!/usr/bin/env bash
# Training throughput (forward + backward + AdamW), tokens/s: 2-layer × 128 BERT at 32 × 64, BERT-base at 16 × 128.
# Usage: bench/train-speed.sh [threads] [repeats]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" train "${1:-2}" "${2:-6}"
