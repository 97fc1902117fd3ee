"""A program for Nsight Compute: selected_attention on the SPEC §6 workload (bf16, Hkv=4,
D=128, l'=64, n=16, random valid selection, fresh random inputs), forward or forward +
backward, `--steps` times. Profile one launch of one kernel, e.g. the last token chunk's
partials kernel of the second forward at G = 4 (4 chunks: skip 4 + 3 launches):

    ncu --clock-control none --set full -k regex:_selected_partials --launch-skip 7 \\
        --launch-count 1 -o fwd python benchmarks/ncu_selected.py --group 4

It prints the number of token chunks, which the --launch-skip arithmetic needs.
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.profile_layer import selected_step  # noqa: E402
from fsa_ops.kernels.selected_attention import chunk_tokens_for  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--backward", action="store_true")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    step = selected_step(args.seqlen, args.group, args.backward)
    q = torch.empty(1, args.seqlen, 4 * args.group, 128, dtype=torch.bfloat16, device="meta")
    chunks = -(-args.seqlen // chunk_tokens_for(q, 16))
    print(f"T={args.seqlen} G={args.group}: {chunks} token chunks per call", flush=True)
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
