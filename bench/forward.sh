#!/usr/bin/env bash
# Inference speed of a BERT-base-sized classifier (random weights, bert-base-uncased's config) at sequence
# length 128 and batch sizes 1, 8, 32, plus peak memory and, as the ceiling, one plain ONNX Runtime MatMul.
# Usage: bench/forward.sh [threads] [repeats]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" forward "${1:-2}" "${2:-5}"
