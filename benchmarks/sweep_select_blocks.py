"""Chunk-width sweep of the fused select_blocks kernel (H100, bf16, Hkv=4, D=128, defaults of SPEC §2).

    python benchmarks/sweep_select_blocks.py [--seqlen 65536]
"""

import argparse
import sys
from pathlib import Path

import torch
import triton.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from fsa_ops.kernels.select_blocks import select_blocks_forward  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    t = parser.parse_args().seqlen
    hkv, d = 4, 128
    tc = fsa_ops.reference.num_compressed_keys(t, 32, 16)
    for g in (1, 4, 16):
        q = torch.randn(1, t, hkv * g, d, device="cuda", dtype=torch.bfloat16)
        kc = torch.randn(1, tc, hkv, d, device="cuda", dtype=torch.bfloat16)
        _, lse = torch.ops.fsa.compressed_attention(q, kc, kc, None, None, t, 32, 16, d ** -0.5)
        args = (q, kc, lse, t, 32, 16, 64, 16, 1, 2, d ** -0.5)
        base = select_blocks_forward(*args, block_b=16)
        for block_b in (16, 32, 64):
            fn = lambda: select_blocks_forward(*args, block_b=block_b)  # noqa: E731
            same = (fn() == base).all().item()
            ms = triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")
            print(f"G={g:<3} block_b={block_b:<3} {ms:8.3f} ms  identical to block_b=16: {same}", flush=True)


if __name__ == "__main__":
    main()
