#!/usr/bin/env bash
# Learning check and training speed: a small BERT (2 layers, hidden 128, 2 heads, intermediate 512) made by
# `nuansa init`, trained one epoch on SST-2 (batch 32, max length 64, lr 1e-3, warm-up ratio 0.1) with every
# 20th row held out; reports accuracy on the held-out rows and on the held-out rows of 10+ words (sentence-like).
# Usage: bench/train-sst2.sh [work folder]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
data="$shared/data/sst2/train.tsv"
awk -F'\t' 'NR == 1 { print "text\tlabel"; next } NR % 20 != 0' "$data" > "$work/train.tsv"
awk -F'\t' 'NR == 1 { print "text\tlabel"; next } NR % 20 == 0' "$data" > "$work/heldout.tsv"
awk -F'\t' 'NR == 1 || split($1, w, " ") >= 10' "$work/heldout.tsv" > "$work/heldout-long.tsv"

dotnet build "$here/../src/Nuansa.Cli" -c Release --nologo -v q >/dev/null
nuansa() { dotnet "$here/../src/Nuansa.Cli/bin/Release/net10.0/Nuansa.Cli.dll" "$@"; }
rm -rf "$work/init" "$work/model"
nuansa init --model-type bert --vocab "$shared/data/vocab/bert-base-uncased.txt" --labels negative,positive --output "$work/init" \
  --hidden-size 128 --num-hidden-layers 2 --num-attention-heads 2 --intermediate-size 512 --seed 1
start=$(date +%s)
nuansa train --model "$work/init" --train "$work/train.tsv" --validation "$work/heldout.tsv" --output "$work/model" \
  --num-train-epochs 1 --per-device-train-batch-size 32 --per-device-eval-batch-size 64 --max-length 64 \
  --learning-rate 1e-3 --warmup-ratio 0.1 --weight-decay 0.01 --seed 1 2> "$work/train.log"
echo "train wall time: $(( $(date +%s) - start )) s ($(wc -l < "$work/train.tsv") rows)"
grep -E "tokens/s" "$work/train.log" | tail -1
nuansa classify --model "$work/model" --input "$work/heldout-long.tsv" --output "$work/long.jsonl" --batch-size 64
paste <(tail -n +2 "$work/heldout-long.tsv" | cut -f2) <(grep -o '"label":"[a-z]*"' "$work/long.jsonl" | cut -d'"' -f4) |
  awk '{ total++; if (($1 == 1 && $2 == "positive") || ($1 == 0 && $2 == "negative")) right++ }
       END { printf "held-out rows of 10+ words: %d, accuracy %.4f\n", total, right / total }'
