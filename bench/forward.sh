#!/usr/bin/env bash
# Inference speed of a BERT-base-sized classifier (random weights, bert-base-uncased's config) at sequence length
# 128 and batch sizes 1, 8, 32, in float32 and both int8 forms, against two yardsticks measured in the same run:
# the host's FMA limit, and the baseline of ../shared/anchors (ONNX Runtime on a torch.onnx.export of HF's model,
# same inputs, runs alternating with Nuansa's). Prints ratios; peak memory; one plain ORT MatMul.
# Usage: bench/forward.sh [threads] [repeats]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
# The baseline's weights are rebuilt by the anchor's own script (Debian's python3-onnx and python3-numpy).
if ! /usr/bin/python3 -c "import onnx, numpy" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-onnx python3-numpy >/dev/null
  else echo "needs python3-onnx and python3-numpy (sudo apt-get install python3-onnx python3-numpy)" >&2; exit 1; fi
fi
baseline=${TMPDIR:-/tmp}/nuansa-anchor-bert-base-torch-export.onnx
[ -f "$baseline" ] || /usr/bin/python3 "$shared/anchors/fill_weights.py" "$shared/anchors/bert-base-torch-export" "$baseline" >/dev/null
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
lscpu | grep -E "Model name|CPU family|^Model:" | tr -s ' '
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" forward "${1:-2}" "${2:-7}" "$baseline"
# Batch-1 latency spread: thread spinning on/off, alone and taking turns with the baseline.
dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" batch1 "${1:-2}" 40 "$baseline"
