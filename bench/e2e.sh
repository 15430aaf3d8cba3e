#!/usr/bin/env bash
# End to end on real text (tokenize + batch + forward, max length 512, batches of 32): Nuansa's classify against
# the way HF users run the same model — ONNX Runtime on a torch.onnx.export of HF's BertForSequenceClassification
# (../shared/anchors, random weights) with texts tokenized by HF's Rust tokenizer (npm) in batches of 32 in input
# order, padded to their longest. Both sides use one tokenizer.json (bert-base-uncased's vocabulary) and a
# BERT-base of random weights: speed, not accuracy, is measured.
# Usage: bench/e2e.sh [SST-2 texts] [SmSA texts] [IMDb texts] [threads] [repeats]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
sst2=${1:-10000}; smsa=${2:-10000}; imdb=${3:-800}; threads=${4:-2}; repeats=${5:-3}
if ! /usr/bin/python3 -c "import onnx, numpy" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-onnx python3-numpy >/dev/null
  else echo "needs python3-onnx and python3-numpy (sudo apt-get install python3-onnx python3-numpy)" >&2; exit 1; fi
fi
anchor=${TMPDIR:-/tmp}/nuansa-anchor-bert-base-torch-export.onnx
[ -f "$anchor" ] || /usr/bin/python3 "$shared/anchors/fill_weights.py" "$shared/anchors/bert-base-torch-export" "$anchor" >/dev/null
(cd "$here/hf-tokenizers" && [ -d node_modules/tokenizers ] || npm install --no-audit --no-fund --silent)
dotnet build "$here/Nuansa.Bench" -c Release --nologo -v q >/dev/null
bench() { dotnet "$here/Nuansa.Bench/bin/Release/net10.0/Nuansa.Bench.dll" "$@"; }
model=$(bench bert-base "$shared/data/vocab/bert-base-uncased.txt")
bench tokenizer-json "$shared/data/vocab/bert-base-uncased.txt" "$model/tokenizer.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lscpu | grep -E "Model name|CPU family|^Model:" | tr -s ' '
run() { # name, data file, column, count
  [ "$4" -gt 0 ] || return 0
  bench texts "$2" "$3" "$4" "$work/$1.txt"
  line=$(node "$here/hf-tokenizers/encode.mjs" "$model/tokenizer.json" "$work/$1.txt" "$work/$1.bin" "$repeats")
  echo "$line"
  seconds=$(echo "$line" | tr ' ' '\n' | grep '^tokenize_s=' | cut -d= -f2)
  bench e2e "$model" "$anchor" "$work/$1.txt" "$work/$1.bin" "$seconds" "$threads" "$repeats" "$1"
}
run sst2 "$shared/data/sst2/train.tsv" sentence "$sst2"
run smsa "$shared/data/indonlu-smsa/train.tsv" sentence "$smsa"
run imdb "$shared/data/imdb/train.csv" text "$imdb"
