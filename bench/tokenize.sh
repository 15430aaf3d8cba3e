#!/usr/bin/env bash
# Tokenizer throughput: Nuansa against HF's Rust tokenizers (npm binding) on the same texts, same machine.
# Usage: bench/tokenize.sh [model folder] [number of texts]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
model=${1:-$shared/fixtures/models/bert-2label}
count=${2:-20000}
texts=$(mktemp)
trap 'rm -f "$texts"' EXIT
# SST-2 (English) and SmSA (Indonesian) sentences, first column, header skipped.
half=$((count / 2))
{ awk -F'\t' -v n="$half" 'NR > 1 && NR <= n + 1 { print $1 }' "$shared/data/sst2/train.tsv";
  awk -F'\t' -v n="$half" 'NR > 1 && NR <= n + 1 { print $1 }' "$shared/data/indonlu-smsa/train.tsv"; } > "$texts"

(cd "$here/hf-tokenizers" && [ -d node_modules/tokenizers ] || npm install --no-audit --no-fund --silent)
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
nuansa=$(dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" tokenize "$model" "$texts")
hf1=$(TOKENIZERS_PARALLELISM=false node "$here/hf-tokenizers/bench.mjs" "$model/tokenizer.json" "$texts")
hf=$(node "$here/hf-tokenizers/bench.mjs" "$model/tokenizer.json" "$texts")
echo "$nuansa"
echo "$hf1"
echo "$hf"
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
awk -v a="$(field "$nuansa" single_thread_tokens_per_s)" -v b="$(field "$hf1" single_thread_tokens_per_s)" \
    -v c="$(field "$nuansa" all_cores_tokens_per_s)" -v d="$(field "$hf" all_cores_tokens_per_s)" \
    'BEGIN { printf "ratio nuansa/hf: single thread %.2f, all cores %.2f\n", a / b, c / d }'
