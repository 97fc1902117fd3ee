"""Tuning sweep of the fused select_blocks kernel (bf16, Hkv=4, D=128, defaults of SPEC §2):
keys per chunk, warps and pipeline stages.

    python benchmarks/sweep_select_blocks.py [--seqlen 65536] [--groups 1 4 16]

Prints ms per variant and the share of rows whose selection differs from the first variant's
(near-ties may be ordered differently by another summation order).
"""

import argparse
import sys
from pathlib import Path

import torch
import triton.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from fsa_ops.kernels.select_blocks import select_blocks_forward  # noqa: E402

VARIANTS = [(64, 4, 2), (64, 4, 1), (64, 8, 2), (128, 4, 2), (128, 8, 1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    t, hkv, d = args.seqlen, 4, 128
    tc = fsa_ops.reference.num_compressed_keys(t, 32, 16)
    for g in args.groups:
        q = torch.randn(1, t, hkv * g, d, device="cuda", dtype=torch.bfloat16)
        kc = torch.randn(1, tc, hkv, d, device="cuda", dtype=torch.bfloat16)
        _, lse = torch.ops.fsa.compressed_attention(q, kc, kc, None, None, t, 32, 16, d ** -0.5)
        call = (q, kc, lse, None, None, t, 32, 16, 64, 16, 1, 2, d ** -0.5)
        base = None
        for keys, warps, stages in VARIANTS:
            def fn():
                return select_blocks_forward(*call, keys_per_chunk=keys, num_warps=warps,
                                             num_stages=stages)
            try:
                out = fn()
                ms = triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median")
            except Exception as error:                   # out of shared memory or registers
                print(f"G={g:<3} keys={keys} warps={warps} stages={stages}: {type(error).__name__}",
                      flush=True)
                continue
            base = out if base is None else base
            differ = (out != base).any(-1).float().mean().item()
            print(f"G={g:<3} keys={keys:<4} warps={warps} stages={stages}  {ms:8.3f} ms"
                  f"  rows differing from the first variant: {differ:.1e}", flush=True)


if __name__ == "__main__":
    main()
