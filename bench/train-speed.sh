#!/usr/bin/env bash
# Training throughput (forward + backward + clipping + AdamW), tokens/s, and peak memory: a 2-layer × 128 BERT at
# 32 × 64 and BERT-base at 16 × 128, Nuansa against PyTorch eager (Debian's python3-torch with OpenBLAS,
# bench/torch-train.py) on the same host. The two sides take turns, model by model, [rounds] times (default 2), so
# that the host's drift hits both: each pair gives a ratio, and the median of the pairs is printed.
# Usage: bench/train-speed.sh [threads] [repeats] [rounds]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
threads=${1:-2}; repeats=${2:-6}; rounds=${3:-2}
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
  else echo "needs python3-torch (sudo apt-get install python3-torch libopenblas0-pthread)" >&2; exit 1; fi
fi
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
lscpu | grep -E "Model name|CPU family|^Model:" | tr -s ' '
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
for model in bert-2x128 bert-base; do
  if [ "$model" = bert-2x128 ]; then shape="128 2 2 32 64"; theirs_repeats=$repeats
  else shape="768 12 12 16 128"; theirs_repeats=$(( repeats > 2 ? repeats / 3 : 1 )); fi
  ratios=()
  for round in $(seq 1 "$rounds"); do
    ours=$(dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" train "$threads" "$repeats" "$model" | grep "^nuansa train ")
    echo "$ours"
    # shellcheck disable=SC2086
    theirs=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$here/torch-train.py" $shape "$threads" "$theirs_repeats")
    echo "$theirs"
    ratio=$(awk -v a="$(field "$ours" tokens_per_s)" -v b="$(field "$theirs" tokens_per_s)" 'BEGIN { printf "%.2f", a / b }')
    ratios+=("$ratio")
    echo "nuansa train $model round=$round speed_vs_pytorch=$ratio peak_memory_mb nuansa=$(field "$ours" peak_working_set_mb) pytorch=$(field "$theirs" peak_rss_mb)"
  done
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "nuansa train $model speed_vs_pytorch_median=$median rounds=${ratios[*]}"
done
