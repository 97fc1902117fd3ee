"""Tuning sweep of the fused select_blocks kernel (bf16, Hkv=4, D=128, defaults of SPEC §2):
row spans, split_dot's terms, tile rows, warps, keys per chunk, pipeline stages and the
register cap.

    python benchmarks/sweep_select_blocks.py [--seqlen 65536] [--groups 1 4 16]
    python benchmarks/sweep_select_blocks.py --warm --shard 0/4 [...]   # compile only, a quarter of the variants
    python benchmarks/sweep_select_blocks.py --variants 1 --save base.pt   # in another tree, then:
    python benchmarks/sweep_select_blocks.py --against base.pt   # the defaults' indices against that tree's

Variants are keyword arguments of select_blocks_forward ({}: the launcher's defaults, always
first, so `--variants 1` runs on older launchers too). Prints ms per variant and the share of
rows whose selection differs from the first variant's (near-ties may be ordered differently
by another summation order).
"""

import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from benchmarks.sweep_args import sweep_parser, time_variant, variants_to_run  # noqa: E402
from fsa_ops.kernels.select_blocks import select_blocks_forward  # noqa: E402

# max_registers: None = the launcher's default cap, 0 = none
VARIANTS = [
    {},
    dict(span=0),                           # the G heads of a token on adjacent rows
    dict(half_split=False),                 # three bfloat16 terms in split_dot
    dict(span=0, half_split=False),         # both: the session-11 kernel's arithmetic
    dict(max_registers=160),
    dict(max_registers=168),
    dict(max_registers=0),
    dict(rows=64, num_warps=4),
    dict(rows=128, num_warps=8),
    dict(rows=32),
    dict(num_stages=3),
    dict(keys_per_chunk=128),
    dict(sorted_topn=False),                # a round: four reductions (score, then its block)
    dict(sorted_topn=True),                 # a round: the top-n kept ordered, no worst search
]


def select_blocks_call(seqlen: int, group: int, kv_heads: int = 4, head_dim: int = 128):
    """Random arguments of select_blocks_forward (SPEC §2 defaults, lse from the compressed
    branch), the same in every process (seeded): (q, k_cmp, lse, None, None, T, l, d, l', n,
    init, local, scale)."""
    torch.manual_seed(seqlen + group)
    tc = fsa_ops.reference.num_compressed_keys(seqlen, 32, 16)
    q = torch.randn(1, seqlen, kv_heads * group, head_dim, device="cuda", dtype=torch.bfloat16)
    kc = torch.randn(1, tc, kv_heads, head_dim, device="cuda", dtype=torch.bfloat16)
    scale = head_dim ** -0.5
    _, lse = torch.ops.fsa.compressed_attention(q, kc, kc, None, None, seqlen, 32, 16, scale)
    return (q, kc, lse, None, None, seqlen, 32, 16, 64, 16, 1, 2, scale)


def main():
    parser = sweep_parser()
    parser.add_argument("--save", help="write the defaults' indices per group to this file")
    parser.add_argument("--against", help="compare the defaults' indices with a --save file")
    args = parser.parse_args()
    saved = {}
    for g in args.groups:
        call = select_blocks_call(args.seqlen, g)
        base = None
        for knobs in variants_to_run(VARIANTS, args):
            if knobs.get("rows", 64) < triton.next_power_of_2(g):
                continue
            def fn():
                return select_blocks_forward(*call, **knobs)
            timed = time_variant(fn, args, f"G={g:<3} {knobs}")
            if timed is None:
                continue
            out, ms = timed
            if base is None:
                base = saved[g] = out.cpu()
                if args.against:
                    other = torch.load(args.against)[g]
                    print(f"G={g:<3} default indices equal to {args.against}'s: "
                          f"{torch.equal(base, other)} (rows differing: "
                          f"{(base != other).any(-1).float().mean().item():.1e})", flush=True)
            differ = (out.cpu() != base).any(-1).float().mean().item()
            print(f"G={g:<3} {str(knobs or 'default'):<56} {ms:8.3f} ms"
                  f"  rows differing from the first variant: {differ:.1e}", flush=True)
    if args.save:
        torch.save(saved, args.save)


if __name__ == "__main__":
    main()
