"""Where the NSA layer's forward+backward peak memory goes: every kernel-level forward and
backward launcher is wrapped to print the memory allocated when it starts, its own peak and
what it leaves, all above what was allocated before the step (as benchmarks/run.py's
peak_mem_bytes counts). SDPA's step on the same inputs is printed for comparison.

    python benchmarks/memory_layer.py [--seqlen 65536] [--groups 4] [--nondeterministic]
"""

import argparse
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.profile_layer import layer_step  # noqa: E402
from benchmarks.run import HEAD_DIM, KV_HEADS  # noqa: E402
from fsa_ops.kernels import gated_combine, range_attention, select_blocks, selected_attention  # noqa: E402

GIB = float(1 << 30)
LAUNCHERS = [
    (range_attention, "range_attention_forward"), (range_attention, "range_attention_backward"),
    (selected_attention, "selected_attention_forward"),
    (selected_attention, "selected_attention_backward"),
    (select_blocks, "select_blocks_forward"),
    (gated_combine, "gated_combine_forward"), (gated_combine, "gated_combine_backward"),
]


def wrap(module, name, base, log):
    """Replace module.name by a launcher that logs memory while `log` is not None."""
    inner = getattr(module, name)

    @functools.wraps(inner)
    def launcher(*args, **kwargs):
        if log.get("entries") is None:
            return inner(*args, **kwargs)
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = inner(*args, **kwargs)
        torch.cuda.synchronize()
        log["entries"].append((name, (start - base[0]) / GIB,
                               (torch.cuda.max_memory_allocated() - base[0]) / GIB,
                               (torch.cuda.memory_allocated() - base[0]) / GIB))
        return out
    setattr(module, name, launcher)


def step(fn, base):
    """Peak memory of fn() above what was allocated before it, in GiB."""
    torch.cuda.synchronize()
    base[0] = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base[0]) / GIB


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[4])
    parser.add_argument("--nondeterministic", action="store_true",
                        help="also the layer with deterministic=False (atomic selected backward)")
    args = parser.parse_args()
    t = args.seqlen
    base, log = [0], {}
    for module, name in LAUNCHERS:
        wrap(module, name, base, log)
    for g in args.groups:
        for deterministic in (True, False) if args.nondeterministic else (True,):
            nsa = layer_step(t, g, deterministic)
            nsa()                                         # warm up: compile the kernels
            peak = step(nsa, base)
            log["entries"] = []
            step(nsa, base)
            entries, log["entries"] = log["entries"], None
            q_bytes = t * KV_HEADS * g * HEAD_DIM * 2
            print(f"## NSA layer fwd+bwd, T={t} G={g}, deterministic={deterministic}: peak "
                  f"{peak:.2f} GiB above the inputs (a q-sized tensor: {q_bytes / GIB:.3f} GiB)")
            print(f"{'launcher':<30} {'at start':>9} {'own peak':>9} {'at end':>9}  (GiB)")
            for name, start, own_peak, end in entries:
                print(f"{name:<30} {start:9.3f} {own_peak:9.3f} {end:9.3f}")
            del nsa

        def rand(heads):
            return torch.randn(1, heads, t, HEAD_DIM, device="cuda", dtype=torch.bfloat16,
                               requires_grad=True)
        qs, ks, vs = rand(KV_HEADS * g), rand(KV_HEADS), rand(KV_HEADS)
        grad = torch.randn_like(qs)

        def sdpa():
            out = torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=True,
                                                                   enable_gqa=True)
            torch.autograd.grad(out, (qs, ks, vs), grad)
        sdpa()
        print(f"SDPA fwd+bwd, same shapes: peak {step(sdpa, base):.2f} GiB\n")
        del qs, ks, vs, grad
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
