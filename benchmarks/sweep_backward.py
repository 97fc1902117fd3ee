"""Tuning sweep of the compressed- and window-attention backward (SPEC §6 workload: bf16,
Hkv=4, D=128, l=32, d=16, w=512): query splits of the dK/dV pass and its tile shape, warps
and pipeline stages.

    python benchmarks/sweep_backward.py [--seqlen 65536] [--groups 1 4 16] [--modes compressed window]

Prints ms and effective TFLOP/s (2.5 x the forward's FLOPs) per variant, and each variant's
largest relative gradient difference to the first (the default).
"""

import argparse
import sys
from pathlib import Path

import torch
import triton.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from fsa_ops.kernels.common import MODE_COMPRESSED, MODE_WINDOW  # noqa: E402
from fsa_ops.kernels.range_attention import range_attention_backward  # noqa: E402
from fsa_ops.testing import rel_error  # noqa: E402

# (query_splits, dkdv_rows, dkdv_block_n, dkdv_warps, num_stages); 0 = the launcher's default.
# The first variant of each mode is the default.
VARIANTS = {
    "compressed": [(0, 64, 64, 4, 2), (0, 32, 64, 4, 2), (0, 32, 64, 4, 3), (0, 64, 64, 8, 2),
                   (0, 32, 128, 8, 2), (0, 32, 64, 4, 1)],
    "window": [(1, 64, 64, 4, 2), (1, 32, 64, 4, 2), (1, 32, 64, 4, 3), (1, 64, 64, 8, 2),
               (1, 32, 128, 8, 2)],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--variants", type=int, default=None,
                        help="run only the first N variants (1: the default alone)")
    parser.add_argument("--modes", nargs="+", default=["compressed", "window"])
    args = parser.parse_args()
    t, hkv, d = args.seqlen, 4, 128
    tc = fsa_ops.reference.num_compressed_keys(t, 32, 16)
    for g in args.groups:
        def rand(*shape):
            return torch.randn(shape, device="cuda", dtype=torch.bfloat16)
        q, do = rand(1, t, hkv * g, d), rand(1, t, hkv * g, d)
        for mode in args.modes:
            if mode == "compressed":
                k, v = rand(1, tc, hkv, d), rand(1, tc, hkv, d)
                call = (None, None, t, MODE_COMPRESSED, 0, 32, 16, d ** -0.5)
                o, lse = torch.ops.fsa.compressed_attention(q, k, v, *call[:3], 32, 16, d ** -0.5)
                flops = 2.5 * 2 * t * hkv * g * tc * d
            else:
                k, v = rand(1, t, hkv, d), rand(1, t, hkv, d)
                call = (None, None, t, MODE_WINDOW, 512, 1, 1, d ** -0.5)
                o, lse = torch.ops.fsa.window_attention(q, k, v, None, None, 512, d ** -0.5)
                flops = 2.5 * 4 * t * hkv * g * 512 * d
            base = None
            for splits, rows, block_n, warps, stages in VARIANTS[mode][:args.variants]:
                if rows < triton.next_power_of_2(g):
                    continue

                def fn():
                    return range_attention_backward(
                        do, q, k, v, o, lse, *call, query_splits=splits, dkdv_rows=rows,
                        dkdv_block_n=block_n, dkdv_warps=warps, num_stages=stages)
                name = (f"{mode:<10} G={g:<3} splits={splits:<2} rows={rows:<3} block_n={block_n:<3} "
                        f"warps={warps} stages={stages}")
                try:
                    grads = fn()
                    ms = triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median")
                except Exception as error:               # out of shared memory or registers
                    print(f"{name}: {type(error).__name__}", flush=True)
                    continue
                base = base or grads
                err = max(rel_error(a, b) for a, b in zip(grads, base))
                print(f"{name}  {ms:8.3f} ms {flops / ms / 1e9:6.1f} TFLOP/s  diff {err:.1e}",
                      flush=True)
            del k, v, o, lse, base
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
