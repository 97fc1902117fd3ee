"""Tuning sweep of the compressed- and window-attention kernels (SPEC §6 workload: bf16,
Hkv=4, D=128, l=32, d=16, w=512), forward or backward.

    python benchmarks/sweep_range.py [--seqlen 65536] [--groups 1 4 16] [--modes compressed window] [--backward]
    python benchmarks/sweep_range.py --warm --shard 0/4 [...]   # compile only, a quarter of the variants

Variants are keyword arguments of range_attention_forward / range_attention_backward ({}: the
launcher's defaults, always first, so `--variants 1` runs on older launchers too). Prints ms
and effective TFLOP/s (forward FLOPs, x2.5 for the backward) per variant, and each variant's
largest relative difference to the first.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from fsa_ops.kernels.common import MODE_COMPRESSED, MODE_WINDOW  # noqa: E402
from fsa_ops.kernels.range_attention import (range_attention_backward,  # noqa: E402
                                             range_attention_forward)
from benchmarks.sweep_args import sweep_parser, time_variant, variants_to_run  # noqa: E402
from fsa_ops.testing import rel_error  # noqa: E402

FORWARD = [
    {},
    dict(rows=64, num_warps=4, num_stages=2),
    dict(rows=64, num_warps=4, num_stages=3),
    dict(rows=128, num_warps=8, num_stages=3),
    dict(rows=128, block_n=128, num_warps=8, num_stages=2),
]
BACKWARD = [
    {},
    dict(dkdv_warps=8),
    dict(dkdv_rows=32, dkdv_warps=8),
    dict(dq_rows=128, dq_warps=8),
    dict(dkdv_rows=32, dkdv_warps=8, dq_rows=128, dq_warps=8),
    # 32-key dK/dV tiles on 4 warps: offline sm_90a, compressed, G = 4, 60 B of spill stores
    # against the default 64-key tile's 364 (its [keys, D] products fall back to mma.sync)
    dict(dkdv_block_n=32),
    # Deeper pipelines, and the Triton fused-attention tutorial's Hopper shapes: dK/dV owns
    # 128 keys and walks 32 rows at a time, dQ owns 128 rows and walks 32 keys.
    dict(dkdv_stages=3),
    dict(dq_stages=3),
    dict(dkdv_block_n=128, dkdv_rows=32),
    dict(dkdv_block_n=128, dkdv_rows=32, dkdv_warps=8),
    dict(dkdv_block_n=128, dkdv_rows=64, dkdv_warps=8),
    dict(dkdv_block_n=128, dkdv_rows=32, dkdv_warps=8, dkdv_stages=3),
    dict(dq_rows=128, dq_block_n=32),
    dict(dq_rows=128, dq_block_n=32, dq_warps=8),
    dict(dq_rows=128, dq_block_n=32, dq_warps=8, dq_stages=3),
    dict(dq_rows=128, dq_warps=8, dq_stages=3),
    dict(dkdv_rows=32, dkdv_stages=3),
    dict(dkdv_stages=4, dq_stages=4),
]


def main():
    parser = sweep_parser()
    parser.add_argument("--modes", nargs="+", default=["compressed", "window"])
    parser.add_argument("--backward", action="store_true")
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
                flops = 2 * t * hkv * g * tc * d
            else:
                k, v = rand(1, t, hkv, d), rand(1, t, hkv, d)
                call = (None, None, t, MODE_WINDOW, 512, 1, 1, d ** -0.5)
                flops = 4 * t * hkv * g * 512 * d
            o, lse = range_attention_forward(q, k, v, *call)
            if args.backward:
                flops *= 2.5
            base = None
            for knobs in variants_to_run(BACKWARD if args.backward else FORWARD, args):
                def fn():
                    if args.backward:
                        return range_attention_backward(do, q, k, v, o, lse, *call, **knobs)
                    return range_attention_forward(q, k, v, *call, **knobs)
                name = f"{mode:<10} G={g:<3} {'bwd' if args.backward else 'fwd'} {knobs or 'default'}"
                timed = time_variant(fn, args, name)
                if timed is None:
                    continue
                outs, ms = timed
                base = base or outs
                # o (not lse, which is -inf where no key is visible) or the three gradients
                err = max(rel_error(a, b) for a, b in list(zip(outs, base))[:3 if args.backward else 1])
                print(f"{name:<80} {ms:8.3f} ms {flops / ms / 1e9:6.1f} TFLOP/s  diff {err:.1e}",
                      flush=True)
            del k, v, o, lse, base
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
