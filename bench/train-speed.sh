#!/usr/bin/env bash
# Training throughput (forward + backward + clipping + AdamW), tokens/s, and peak memory: a 2-layer × 128 BERT at
# 32 × 64 and BERT-base at 16 × 128, Nuansa against PyTorch eager (Debian's python3-torch with OpenBLAS, bench/torch-train.py) run
# right after it in this script on the same host; prints the ratios.
# Usage: bench/train-speed.sh [threads] [repeats]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
threads=${1:-2}; repeats=${2:-6}
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
  else echo "needs python3-torch (sudo apt-get install python3-torch libopenblas0-pthread)" >&2; exit 1; fi
fi
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
lscpu | grep -E "Model name|CPU family|^Model:" | tr -s ' '
ours=$(dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" train "$threads" "$repeats")
echo "$ours"
small=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$here/torch-train.py" 128 2 2 32 64 "$threads" "$repeats")
echo "$small"
base=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$here/torch-train.py" 768 12 12 16 128 "$threads" $(( repeats > 2 ? repeats / 3 : 1 )))
echo "$base"
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
for pair in "bert-2x128|$small" "bert-base|$base"; do
  name=${pair%%|*}; theirs=${pair#*|}
  line=$(echo "$ours" | grep "^nuansa train $name ")
  awk -v n="$name" -v a="$(field "$line" tokens_per_s)" -v b="$(field "$theirs" tokens_per_s)" -v m="$(field "$line" peak_working_set_mb)" -v p="$(field "$theirs" peak_rss_mb)" \
    'BEGIN { printf "nuansa train %s speed_vs_pytorch=%.2f peak_memory_mb nuansa=%d pytorch=%d\n", n, a / b, m, p }'
done
