#!/usr/bin/env bash
# Multi-task and context–text pair training on IndoNLU CASA (car reviews, 6 aspects × negative/neutral/positive),
# every 10th review held out, small BERTs (2 layers, hidden 128) from `nuansa init` with the IndoBERT vocabulary.
# Usage: bench/train-casa.sh [work folder]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
data="$shared/data/indonlu-casa/train.csv"   # one review per line (no embedded newlines)
awk 'NR == 1 || (NR - 1) % 10 != 0' "$data" > "$work/train.csv"
awk 'NR == 1 || (NR - 1) % 10 == 0' "$data" > "$work/heldout.csv"
aspects=fuel,machine,others,part,price,service
# Pair form: one row per (aspect, review): the aspect is the context, the review the text.
to_pairs() {
  awk -F',' 'NR == 1 { for (i = 2; i <= NF; i++) name[i] = $i; print "aspect\tsentence\tlabel"; next }
             { n = NF; text = $1; for (i = 2; i <= n - 6; i++) text = text "," $i; gsub(/^"|"$/, "", text); gsub(/""/, "\"", text)
               for (a = 0; a < 6; a++) print name[a + 2] "\t" text "\t" $(n - 5 + a) }' "$1"
}
to_pairs "$work/train.csv" > "$work/train-pairs.tsv"
to_pairs "$work/heldout.csv" > "$work/heldout-pairs.tsv"

dotnet build "$here/../src/Nuansa.Cli" -c Release --nologo -v q >/dev/null
nuansa() { dotnet "$here/../src/Nuansa.Cli/bin/Release/net10.0/Nuansa.Cli.dll" "$@"; }
vocab="$shared/data/vocab/indobert-lite-base-p1.txt"
sizes=(--hidden-size 128 --num-hidden-layers 2 --num-attention-heads 2 --intermediate-size 512 --seed 1)
common=(--num-train-epochs 15 --per-device-train-batch-size 16 --learning-rate 1e-3 --warmup-ratio 0.1 --weight-decay 0.01 --max-length 128 --seed 1)

rm -rf "$work/mt-init" "$work/mt" "$work/pair-init" "$work/pair"
labels=$(for a in ${aspects//,/ }; do printf '%s-neg,%s-neu,%s-pos,' "$a" "$a" "$a"; done)
nuansa init --model-type bert --vocab "$vocab" --labels "${labels%,}" --output "$work/mt-init" "${sizes[@]}"
start=$(date +%s)
nuansa train --model "$work/mt-init" --train "$work/train.csv" --validation "$work/heldout.csv" --output "$work/mt" \
  --text-column sentence --tasks "$aspects" --task-labels negative,neutral,positive --metric-for-best-model f1_macro "${common[@]}" 2>/dev/null | tail -1
echo "multi-task wall time: $(( $(date +%s) - start )) s"
grep -o '"eval_accuracy":[0-9.]*,"eval_f1_macro":[0-9.]*' "$work/mt/trainer_log.jsonl" | sort -t: -k3 -n | tail -1 || true

nuansa init --model-type bert --vocab "$vocab" --labels negative,neutral,positive --output "$work/pair-init" "${sizes[@]}"
start=$(date +%s)
nuansa train --model "$work/pair-init" --train "$work/train-pairs.tsv" --validation "$work/heldout-pairs.tsv" --output "$work/pair" \
  --text-column aspect --pair-column sentence --metric-for-best-model f1_macro --class-weights balanced "${common[@]}" 2>/dev/null | tail -1
echo "pair wall time: $(( $(date +%s) - start )) s"
