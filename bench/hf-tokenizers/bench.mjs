// Baseline for bench/tokenize.sh: HF's Rust tokenizers through their official Node binding,
// timed the same way as the C# benchmark (warm-up, then the median of repeated runs).
import { readFileSync } from "node:fs";
import { Tokenizer } from "tokenizers";

const [tokenizerJson, textsFile, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg ?? 7);
const tokenizer = Tokenizer.fromFile(tokenizerJson);
const texts = readFileSync(textsFile, "utf8").split("\n");
if (texts.at(-1) === "") texts.pop();

let tokens = 0;
for (const t of texts) tokens += (await tokenizer.encode(t)).getIds().length;

async function median(run) {
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

// The whole list in one batch call: Rust encodes it on all cores, or on one with TOKENIZERS_PARALLELISM=false.
// Also one text per call (each call finishes before the next starts), which adds the binding's per-call cost.
const batch = await median(async () => { await tokenizer.encodeBatch(texts); });
const perCall = await median(async () => { for (const t of texts) await tokenizer.encode(t); });
const threads = process.env.TOKENIZERS_PARALLELISM === "false" ? "single_thread" : "all_cores";
console.log(`hf_tokenizers texts=${texts.length} tokens=${tokens} ${threads}_tokens_per_s=${(tokens / batch).toFixed(0)} one_call_per_text_tokens_per_s=${(tokens / perCall).toFixed(0)}`);
