#!/usr/bin/env bash
# Stream workers' throughput: N inputs (SST-2 sentences) in a Redis stream, classified by 1 and then 2 `nuansa worker`
# processes on this host, timed from start to the last result. Usage: bench/worker.sh [model] [inputs]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
model=${1:-$shared/fixtures/models/bert-2label}
inputs=${2:-5000}
dotnet build "$here/../src/Nuansa.Cli" -c Release --nologo -v q >/dev/null
cli="$here/../src/Nuansa.Cli/bin/Release/net10.0/Nuansa.Cli.dll"
work=$(mktemp -d); port=$((20000 + RANDOM % 20000))
redis-server --port $port --bind 127.0.0.1 --save "" --appendonly yes --dir "$work" --daemonize yes >/dev/null
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
sleep 0.5
lscpu | grep -E "Model name|CPU family|^Model:" | tr -s ' '
for workers in 1 2; do
  redis-cli -p $port del in in:results >/dev/null
  awk -F'\t' -v n="$inputs" 'NR > 1 && NR <= n + 1 { gsub(/"/, "", $1); printf "XADD in * id %d text \"%s\"\n", NR - 1, $1 }' "$shared/data/sst2/train.tsv" | redis-cli -p $port >/dev/null
  start=$(date +%s.%N)
  pids=()
  for w in $(seq 1 $workers); do
    dotnet "$cli" worker --model "$model" --redis redis://127.0.0.1:$port --stream in --group "g$workers" --consumer "w$w" --block-ms 20 >/dev/null 2>&1 &
    pids+=($!)
  done
  while [ "$(redis-cli -p $port xlen in:results)" -lt "$inputs" ]; do sleep 0.1; done
  end=$(date +%s.%N)
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  echo "workers=$workers inputs=$inputs seconds=$(echo "$end - $start" | bc) inputs_per_s=$(echo "$inputs / ($end - $start)" | bc)"
done
