"""Training proof: a tiny decoder LM built on `NativeSparseAttention` learns key -> value recall
across a long context, compiled with `torch.compile(fullgraph=True)`.

    python benchmarks/train_recall.py                       # GPU: 4096 tokens, loss curve PNG
    python benchmarks/train_recall.py --preset cpu          # the short version the tests run

The task. Vocabulary: filler tokens, one *pair* token per (key, value), one *query* token per
key and one *answer* token per value. Each sequence draws `num_pairs` distinct keys and a value
for each; its first part is filler in which a quarter of the positions hold one of those pairs;
its last `num_queries` tokens are queries for its keys, and the target at each query is the
answer token of that key's value. No pair lies within `window_size + 2 * select_block_size`
tokens of the queries, so only the compressed and selected branches can reach one: the model
must learn to score blocks holding the asked key in compressed attention (selection itself has
no gradient) and to read the value in the selected blocks. Chance is ln(num_values).
(With a single needle pair instead of a quarter of the positions, even full attention sits on
the chance plateau for the step budgets used here.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402


@dataclass(frozen=True)
class RecallTask:
    seqlen: int
    num_keys: int = 16
    num_values: int = 16
    num_pairs: int = 8
    num_queries: int = 8
    num_filler: int = 32
    margin: int = 64          # pairs lie at least this many tokens before the first query
    pair_density: float = 0.25

    @property
    def pair_base(self) -> int:
        return self.num_filler

    @property
    def query_base(self) -> int:
        return self.pair_base + self.num_keys * self.num_values

    @property
    def answer_base(self) -> int:
        return self.query_base + self.num_keys

    @property
    def vocab_size(self) -> int:
        return self.answer_base + self.num_values

    def batch(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """tokens [B, T] and targets [B, T] (-100 where there is nothing to predict), on the CPU."""
        T, P, Q = self.seqlen, self.num_pairs, self.num_queries
        tokens = torch.randint(0, self.num_filler, (batch, T), generator=generator)
        targets = torch.full((batch, T), -100)
        keys = torch.rand(batch, self.num_keys, generator=generator).argsort(-1)[:, :P]   # distinct
        values = torch.randint(0, self.num_values, (batch, P), generator=generator)
        span = T - Q - self.margin
        # Each position of the first `span` tokens holds a pair with probability pair_density,
        # drawn from the sequence's P pairs (one value per key throughout the sequence).
        which = torch.randint(0, P, (batch, span), generator=generator)
        is_pair = torch.rand(batch, span, generator=generator) < self.pair_density
        pairs = self.pair_base + keys.gather(1, which) * self.num_values + values.gather(1, which)
        tokens[:, :span] = torch.where(is_pair, pairs, tokens[:, :span])
        asked = torch.randint(0, P, (batch, Q), generator=generator)
        tokens[:, T - Q:] = self.query_base + keys.gather(1, asked)
        targets[:, T - Q:] = self.answer_base + values.gather(1, asked)
        return tokens, targets


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, config: fsa_ops.NSAConfig):
        super().__init__()
        self.attn_norm, self.mlp_norm = nn.RMSNorm(dim), nn.RMSNorm(dim)
        # RoPE base 1e5: with small heads, 1e4 leaves few dimensions slow enough to match
        # content hundreds of tokens apart.
        self.attn = fsa_ops.NativeSparseAttention(dim, heads, kv_heads, dim // heads, config=config,
                                                  rope_theta=1e5)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class RecallLM(nn.Module):
    """tokens [B, T] -> logits [B, T, vocab].

    Token embeddings are factorised: a token's own vector plus the vectors of the key and the
    value it names (pair tokens name both, query tokens a key, answer tokens a value). The
    model still has to find, among thousands of tokens, the one pair whose key matches; the
    factorisation only spares it learning 256 pair embeddings one rare token at a time.
    """

    def __init__(self, task: RecallTask, dim: int, layers: int, heads: int, kv_heads: int,
                 config: fsa_ops.NSAConfig):
        super().__init__()
        vocab = task.vocab_size
        ids = torch.arange(vocab)
        pair = (ids >= task.pair_base) & (ids < task.query_base)
        key = torch.where(pair, (ids - task.pair_base) // task.num_values, -1)
        key = torch.where((ids >= task.query_base) & (ids < task.answer_base), ids - task.query_base, key)
        value = torch.where(pair, (ids - task.pair_base) % task.num_values, -1)
        value = torch.where(ids >= task.answer_base, ids - task.answer_base, value)
        self.register_buffer("token_key", key + 1, persistent=False)      # 0: names no key
        self.register_buffer("token_value", value + 1, persistent=False)
        self.embed = nn.Embedding(vocab, dim)
        self.key_embed = nn.Embedding(task.num_keys + 1, dim, padding_idx=0)
        self.value_embed = nn.Embedding(task.num_values + 1, dim, padding_idx=0)
        self.blocks = nn.ModuleList(Block(dim, heads, kv_heads, config) for _ in range(layers))
        self.norm = nn.RMSNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens: Tensor) -> Tensor:
        x = (self.embed(tokens) + self.key_embed(self.token_key[tokens])
             + self.value_embed(self.token_value[tokens]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


PRESETS = {
    # About a minute and a half on a 2-core CPU; what tests/test_compile.py runs (chance ln 8).
    "cpu": dict(seqlen=256, batch=16, steps=250, dim=64, layers=1, heads=2, kv_heads=1, lr=3e-3,
                config=fsa_ops.NSAConfig(compress_block_size=16, compress_stride=8,
                                         select_block_size=16, num_selected_blocks=4,
                                         num_init_blocks=1, num_local_blocks=1, window_size=32),
                dtype="float32", task=dict(num_keys=8, num_values=8, num_pairs=4)),
    # The GPU run: the paper's block sizes and window; pairs lie 640 to 4000 tokens before the
    # queries (chance ln 16).
    "gpu": dict(seqlen=4096, batch=16, steps=1000, dim=256, layers=2, heads=8, kv_heads=2,
                lr=2e-3, config=fsa_ops.NSAConfig(), dtype="bfloat16"),
}


def train(seqlen: int, batch: int, steps: int, dim: int, layers: int, heads: int, kv_heads: int,
          lr: float, config: fsa_ops.NSAConfig, dtype: str = "float32", device: str = "cpu",
          seed: int = 0, log_every: int = 0, task: dict | None = None) -> dict:
    """Train from scratch; returns the loss history and the final evaluation."""
    torch.manual_seed(seed)
    task = RecallTask(seqlen=seqlen, margin=config.window_size + 2 * config.select_block_size,
                      **(task or {}))
    model = RecallLM(task, dim, layers, heads, kv_heads, config).to(device)
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, dtype),
                              enabled=dtype != "float32")
    compiled = torch.compile(model, fullgraph=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    generator = torch.Generator().manual_seed(seed + 1)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        tokens, targets = (t.to(device) for t in task.batch(batch, generator))
        with autocast:
            logits = compiled(tokens)
        loss = nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:5d}  loss {losses[-1]:.4f}  {time.perf_counter() - start:.0f}s",
                  flush=True)
    with torch.no_grad(), autocast:
        tokens, targets = (t.to(device) for t in task.batch(4 * batch, generator))
        logits = compiled(tokens).float()
        asked = targets != -100
        eval_loss = nn.functional.cross_entropy(logits[asked], targets[asked]).item()
        accuracy = (logits[asked].argmax(-1) == targets[asked]).float().mean().item()
    return dict(task=asdict(task), losses=losses, eval_loss=eval_loss, accuracy=accuracy,
                chance_loss=math.log(task.num_values), seconds=time.perf_counter() - start)


def plot(result: dict, path: Path, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(result["losses"], lw=0.8, label="training loss (query positions)")
    ax.axhline(result["chance_loss"], color="gray", ls="--", label="chance: ln(num_values)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="gpu")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    preset = dict(PRESETS[args.preset])
    if args.steps:
        preset["steps"] = args.steps
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = train(**preset, device=device, log_every=50)
    result["preset"], result["device"] = args.preset, (
        torch.cuda.get_device_name() if device == "cuda" else "cpu")
    result["command"] = "python benchmarks/train_recall.py " + " ".join(argv or sys.argv[1:])
    print(f"eval loss {result['eval_loss']:.4f} (chance {result['chance_loss']:.3f}), "
          f"accuracy {result['accuracy']:.3f}, {result['seconds']:.0f}s")
    out = args.out or Path(__file__).parent / "results" / result["device"].replace(" ", "_")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_recall.json").write_text(json.dumps(
        {**result, "config": {k: (asdict(v) if k == "config" else v) for k, v in preset.items()}},
        indent=1))
    try:
        plot(result, out / "train_recall.png",
             f"NSA recall LM, T={preset['seqlen']}, {preset['layers']} layer(s), "
             f"{result['device']}: eval acc {result['accuracy']:.2f}")
    except ImportError:
        print("matplotlib not installed: no PNG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
