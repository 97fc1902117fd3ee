"""Tuning sweep of the fused select_blocks kernel (bf16, Hkv=4, D=128, defaults of SPEC §2):
keys per chunk, warps, pipeline stages and the register cap.

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

# (keys per chunk, warps, stages, register cap per thread: None = the default, 0 = none)
VARIANTS = [(64, 4, 2, None), (64, 4, 2, 0), (64, 4, 2, 168), (64, 8, 2, 128), (128, 4, 2, None)]


def select_blocks_call(seqlen: int, group: int, kv_heads: int = 4, head_dim: int = 128):
    """Fresh random arguments of select_blocks_forward (SPEC §2 defaults, lse from the
    compressed branch): (q, k_cmp, lse, None, None, T, l, d, l', n, init, local, scale)."""
    tc = fsa_ops.reference.num_compressed_keys(seqlen, 32, 16)
    q = torch.randn(1, seqlen, kv_heads * group, head_dim, device="cuda", dtype=torch.bfloat16)
    kc = torch.randn(1, tc, kv_heads, head_dim, device="cuda", dtype=torch.bfloat16)
    scale = head_dim ** -0.5
    _, lse = torch.ops.fsa.compressed_attention(q, kc, kc, None, None, seqlen, 32, 16, scale)
    return (q, kc, lse, None, None, seqlen, 32, 16, 64, 16, 1, 2, scale)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    for g in args.groups:
        call = select_blocks_call(args.seqlen, g)
        base = None
        for keys, warps, stages, registers in VARIANTS:
            def fn():
                return select_blocks_forward(*call, keys_per_chunk=keys, num_warps=warps,
                                             num_stages=stages, max_registers=registers)
            try:
                out = fn()
                ms = triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median")
            except Exception as error:                   # out of shared memory or registers
                print(f"G={g:<3} keys={keys} warps={warps} stages={stages} maxnreg={registers}: "
                      f"{type(error).__name__}", flush=True)
                continue
            base = out if base is None else base
            differ = (out != base).any(-1).float().mean().item()
            print(f"G={g:<3} keys={keys:<4} warps={warps} stages={stages} maxnreg={str(registers):<4}"
                  f"  {ms:8.3f} ms"
                  f"  rows differing from the first variant: {differ:.1e}", flush=True)


if __name__ == "__main__":
    main()
