"""Tile-shape sweep of the selected-attention forward or backward (H100, bf16, Hkv=4, D=128,
l'=64, n=16).

    python benchmarks/sweep_selected.py [--seqlen 65536] [--backward]

Prints ms per (G, rows, num_warps); checks each variant against the default before timing.
"""

import argparse
import sys
from pathlib import Path

import torch
import triton.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402,F401
from benchmarks.run import random_selection  # noqa: E402
from fsa_ops.kernels.selected_attention import (  # noqa: E402
    selected_attention_backward, selected_attention_forward)
from fsa_ops.testing import rel_error  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--backward", action="store_true")
    args = parser.parse_args()
    t, hkv, d = args.seqlen, 4, 128
    for g in (1, 4, 16):
        q = torch.randn(1, t, hkv * g, d, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, t, hkv, d, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, t, hkv, d, device="cuda", dtype=torch.bfloat16)
        idx = random_selection(1, t, hkv, 16, 64, "cuda")
        scale = d ** -0.5
        o, lse = selected_attention_forward(q, k, v, idx, None, None, 64, scale)
        do = torch.randn_like(q)
        flops = 4 * t * hkv * g * 16 * 64 * d * (2.5 if args.backward else 1)

        def run(rows, warps):
            if args.backward:
                return selected_attention_backward(do, q, k, v, idx, o, lse, None, None, 64,
                                                   scale, rows=rows, num_warps=warps)
            return selected_attention_forward(q, k, v, idx, None, None, 64, scale, rows=rows,
                                              num_warps=warps)[:1]
        base = run(0 if args.backward else 64, 8 if args.backward else 4)
        for rows in (32, 64, 128):
            if rows < triton.next_power_of_2(g):
                continue
            for warps in (4, 8):
                fn = lambda: run(rows, warps)  # noqa: E731
                err = max(rel_error(a, b) for a, b in zip(fn(), base))
                ms = triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median")
                print(f"G={g:<3} rows={rows:<4} warps={warps}  {ms:7.3f} ms  {flops / ms / 1e9:6.1f} TFLOP/s"
                      f"  err vs default {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
