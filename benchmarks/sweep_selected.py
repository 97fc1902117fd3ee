"""Tuning sweep of the selected-attention forward or backward (H100, bf16, Hkv=4, D=128,
l'=64, n=16, random selection).

    python benchmarks/sweep_selected.py [--seqlen 65536] [--groups 1 4 16] [--backward]
    python benchmarks/sweep_selected.py --warm --shard 0/4 [...]   # compile only, a quarter of the variants
    python benchmarks/sweep_selected.py --pick 0 16 17 [...]        # only these variants

Prints ms, TFLOP/s and peak workspace per variant of the launcher's knobs; each variant is
checked against the first one (the shipped defaults) before it is timed.
"""

import sys
from pathlib import Path

import torch
import triton.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402,F401
from benchmarks.run import random_selection  # noqa: E402
from benchmarks.sweep_args import sweep_parser, variants_to_run  # noqa: E402
from fsa_ops.kernels.selected_attention import (  # noqa: E402
    selected_attention_backward, selected_attention_forward)
from fsa_ops.testing import rel_error  # noqa: E402

MIB = 1 << 20
ONE_CHUNK = 1 << 40            # a workspace no sequence fills: a single token chunk
# Launcher keyword arguments; {} = the defaults.
FORWARD = [
    {},
    dict(l2_hints=False),             # no L2 hints (default: partials evict-first, q rows evict-last)
    dict(max_registers=0),            # uncapped: 2 programs of 4 warps per SM (the cap: 3)
    dict(chunk_tokens=8192),          # smaller chunks: a chunk's q rows of one kv head fit L2
    dict(chunk_tokens=4096),          # better (default: forward_chunk_tokens)
    dict(merge_rows=32),              # (token, head) rows per merge program (default 16, 32 overlapped)
    dict(merge_rows=64),
    dict(workspace_bytes=ONE_CHUNK),
    dict(normalize_partials=True),    # divide in the partials kernel, as before session 13
    dict(always_mask=True),           # mask every tile
    dict(normalize_partials=True, always_mask=True),
    dict(num_stages=2),               # cp.async of the next rows, issued at the loop end, awaited at its top
    dict(num_stages=3),               # and the entries of the tile after it (ORDER, cp.async)
    dict(rows=128, num_warps=8, max_registers=128),   # 2 programs of 8 warps per SM
    dict(piece_tiles=16),             # fewer programs: each pays ~7 dependent loads to start
    dict(piece_tiles=32),
    # A chunk's merge in the launch of the next chunk's partials (_partials_and_merge), two
    # partial buffers: the merge's reads run while the partials programs wait on gathers. On
    # by default at G = 3, 4 with several chunks since session 18 (forward_overlaps_merge).
    dict(overlap_merge=False),                                   # the plain forward
    dict(overlap_merge=True, merge_rows=16),                     # two buffers of the default chunks
    dict(overlap_merge=True, merge_rows=16, chunk_tokens=16384),  # the plain forward's at G = 8, 16 before session 28
    dict(overlap_merge=True, merge_rows=16, chunk_tokens=4096),
    dict(overlap_merge=True),                                    # 32-row merge programs
    dict(overlap_merge=True, merge_rows=64),
    dict(overlap_merge=True, merge_rows=128),
    dict(overlap_merge=True, merge_rows=64, chunk_tokens=16384),
    dict(overlap_merge=True, merge_rows=64, chunk_tokens=8192),
]
BACKWARD = [
    {},
    # Smaller token chunks: less workspace (the NSA layer's peak memory is the backward's
    # dQ partials, dK/dV piece partials and sums), more passes over the dK/dV sums.
    dict(workspace_bytes=512 * MIB),
    dict(workspace_bytes=256 * MIB),
    dict(num_stages=1),               # before session 14 (default now: backward_stages)
    dict(num_stages=2),
    dict(num_stages=3),
    dict(deterministic=False),        # float32 atomics, one pass, no partials
    dict(reduce_tokens=64),
    dict(rows=32),
    dict(num_warps=8),                # dK/dV accumulators on twice the threads
    dict(rows=128, num_warps=8),      # one program of 8 warps per SM (255 registers)
    dict(workspace_bytes=ONE_CHUNK),
    # D in two halves (_selected_bwd_halves; default for 2-byte dtypes at 64 < D <= 128 since
    # session 17). Offline sm_90a, G = 4, D = 128: the whole-D kernel's wgmmas are serialized
    # by ptxas at 2-3 stages (C7512: 28 waits a tile; halves: 6), its loop 1174 instructions
    # (halves: 976), but it takes 107.5 KB of shared memory at 3 stages (halves: 115.7 KB).
    dict(split_head_dim=False),
    dict(split_head_dim=False, num_stages=2),
]


def main():
    parser = sweep_parser()
    parser.add_argument("--backward", action="store_true")
    args = parser.parse_args()
    t, hkv, d = args.seqlen, 4, 128
    for g in args.groups:
        q = torch.randn(1, t, hkv * g, d, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, t, hkv, d, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, t, hkv, d, device="cuda", dtype=torch.bfloat16)
        idx = random_selection(1, t, hkv, 16, 64, "cuda")
        scale = d ** -0.5
        o, lse = selected_attention_forward(q, k, v, idx, None, None, 64, scale)
        do = torch.randn_like(q)
        flops = 4 * t * hkv * g * 16 * 64 * d * (2.5 if args.backward else 1)

        def run(knobs):
            if args.backward:
                return selected_attention_backward(do, q, k, v, idx, o, lse, None, None, 64,
                                                   scale, **knobs)
            return selected_attention_forward(q, k, v, idx, None, None, 64, scale, **knobs)

        base = None
        for knobs in variants_to_run(BACKWARD if args.backward else FORWARD, args):
            if knobs.get("rows", 64) < triton.next_power_of_2(g):
                continue
            fn = lambda: run(knobs)  # noqa: E731
            try:
                out = fn()
                if args.warm:
                    continue
                base = out if base is None else base
                err = max(rel_error(a, b) for a, b in zip(out, base))
                del out
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                start = torch.cuda.memory_allocated()
                fn()
                torch.cuda.synchronize()
                extra = (torch.cuda.max_memory_allocated() - start) / MIB
                ms = triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median")
            except Exception as error:                   # out of shared memory or registers
                print(f"G={g:<3} {knobs}: {type(error).__name__} {error}"[:200], flush=True)
                continue
            print(f"G={g:<3} {str(knobs):<58} {ms:8.3f} ms {flops / ms / 1e9:6.1f} TFLOP/s"
                  f"  peak {extra:7.0f} MiB  err vs default {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
