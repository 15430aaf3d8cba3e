// The baseline's tokenizing for bench/e2e.sh, as HF users run it: HF's Rust tokenizer (npm binding), batches of 32
// texts in input order, truncated to 512 tokens and padded to each batch's longest (padding=True, truncation=True).
// Times the median of repeated passes over all batches, then writes the encodings for ONNX Runtime:
// int32 batch count; per batch int32 rows, int32 length, rows·length int32 ids, rows·length int32 mask.
import { readFileSync, writeFileSync } from "node:fs";
import { Tokenizer } from "tokenizers";

const [tokenizerJson, textsFile, outFile, repeatsArg, batchArg, maxArg] = process.argv.slice(2);
const repeats = Number(repeatsArg ?? 3), batchSize = Number(batchArg ?? 32), maxLength = Number(maxArg ?? 512);
const tokenizer = Tokenizer.fromFile(tokenizerJson);
tokenizer.setTruncation(maxLength);
tokenizer.setPadding({}); // pad to the batch's longest with [PAD], as padding=True
const texts = readFileSync(textsFile, "utf8").split("\n");
if (texts.at(-1) === "") texts.pop();
const chunks = [];
for (let i = 0; i < texts.length; i += batchSize) chunks.push(texts.slice(i, i + batchSize));

async function encodeAll() {
  const out = [];
  for (const chunk of chunks) out.push(await tokenizer.encodeBatch(chunk));
  return out;
}

let encoded = await encodeAll(); // warm-up
const times = [];
for (let r = 0; r < repeats; r++) {
  const start = process.hrtime.bigint();
  encoded = await encodeAll();
  times.push(Number(process.hrtime.bigint() - start) / 1e9);
}
times.sort((a, b) => a - b);

const parts = [Buffer.from(new Int32Array([encoded.length]).buffer)];
let tokens = 0;
for (const batch of encoded) {
  const rows = batch.length, length = batch[0].getIds().length;
  const ids = new Int32Array(rows * length), mask = new Int32Array(rows * length);
  batch.forEach((e, r) => { ids.set(e.getIds(), r * length); mask.set(e.getAttentionMask(), r * length); });
  tokens += mask.reduce((a, b) => a + b, 0);
  parts.push(Buffer.from(new Int32Array([rows, length]).buffer), Buffer.from(ids.buffer), Buffer.from(mask.buffer));
}
writeFileSync(outFile, Buffer.concat(parts));
console.log(`hf_tokenizers texts=${texts.length} tokens=${tokens} tokenize_s=${times[Math.floor(times.length / 2)].toFixed(3)}`);
