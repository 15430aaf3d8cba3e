#!/usr/bin/env python3
"""The training baseline of bench/train-speed.sh: one step of BERT sequence classification in PyTorch eager (Debian's
python3-torch), timed the way Nuansa's is (forward, backward, gradient clipping at 1.0, AdamW with weight decay 0.01),
with the process's peak resident memory.

HF transformers is not in Debian's archive, so the model is written here with torch.nn the way transformers'
modeling_bert computes BertForSequenceClassification in eager mode (embeddings + LayerNorm, per layer: q/k/v
linears, scores / sqrt(d) + additive mask, softmax, dropout, context, output dense + dropout + residual LayerNorm,
intermediate exact-erf GELU, output dense + dropout + residual LayerNorm; pooler tanh; classifier; dropout 0.1).

Usage: torch-train.py <hidden> <layers> <heads> <batch> <length> <threads> <repeats>
"""
import math
import resource
import statistics
import sys
import time

import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads, self.size = heads, hidden // heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, 4 * hidden)
        self.output = nn.Linear(4 * hidden, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def heads_first(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.size).permute(0, 2, 1, 3)

    def forward(self, x, bias):
        q, k, v = self.heads_first(self.query(x)), self.heads_first(self.key(x)), self.heads_first(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.size) + bias
        probs = self.dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(x.shape)
        x = self.attention_norm(self.dropout(self.attention_output(context)) + x)
        h = nn.functional.gelu(self.intermediate(x))
        return self.output_norm(self.dropout(self.output(h)) + x)


class Bert(nn.Module):
    def __init__(self, hidden, layers, heads, vocab=30522, positions=512, labels=2, dropout=0.1):
        super().__init__()
        self.word, self.position, self.token_type = nn.Embedding(vocab, hidden, padding_idx=0), nn.Embedding(positions, hidden), nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(Layer(hidden, heads, dropout) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, labels)
        self.dropout = nn.Dropout(dropout)
        for m in self.modules():  # HF's initialization
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.data.normal_(0.0, 0.02)
            if isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, ids, mask, types):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.dropout(self.norm(self.word(ids) + self.token_type(types) + self.position(positions)))
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, bias)
        return self.classifier(self.dropout(torch.tanh(self.pooler(x[:, 0]))))


def main():
    hidden, layers, heads, batch, length, threads, repeats = (int(a) for a in sys.argv[1:8])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = Bert(hidden, layers, heads)
    model.train()
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "norm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "norm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    ids = torch.randint(1000, 30522, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    types = torch.zeros(batch, length, dtype=torch.long)
    labels = torch.arange(batch) % 2

    def step():
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(ids, mask, types), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return time.perf_counter() - start

    step()  # warm-up
    seconds = statistics.median(step() for _ in range(repeats))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000  # kilobytes on Linux
    print(f"pytorch train hidden={hidden} layers={layers} batch={batch}x{length} threads={threads} torch={torch.__version__} "
          f"step_s={seconds:.3f} tokens_per_s={batch * length / seconds:.0f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
