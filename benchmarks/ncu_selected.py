"""A program for Nsight Compute: selected_attention on the SPEC §6 workload (bf16, Hkv=4,
D=128, l'=64, n=16, random valid selection, fresh random inputs), forward or forward +
backward, `--steps` times. Profile one launch of one kernel, e.g. the last token chunk's
partials kernel of the second forward at G = 4 (4 chunks: skip 4 + 3 launches):

    ncu --clock-control none --set full -k regex:_selected_partials --launch-skip 7 \\
        --launch-count 1 -o fwd python benchmarks/ncu_selected.py --group 4

It prints the number of token chunks, which the --launch-skip arithmetic needs. `--knobs
"dict(num_stages=2)"` runs the forward launcher itself with those tuning knobs (forward only).
`--select-blocks` runs select_blocks instead, one launch per step, on the inputs of
benchmarks/sweep_select_blocks.py (its lse from the compressed branch); `--knobs` are then
select_blocks_forward's:

    ncu --clock-control none --set full -k regex:_select_blocks_fwd --launch-skip 1 \\
        --launch-count 1 -o blocks python benchmarks/ncu_selected.py --select-blocks
"""

import argparse
import ast
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.profile_layer import selected_step  # noqa: E402
from benchmarks.run import (BLOCK, HEAD_DIM, KV_HEADS, NUM_SELECTED, Bench,  # noqa: E402
                            branch_inputs, random_selection)
from benchmarks.sweep_select_blocks import select_blocks_call  # noqa: E402
from fsa_ops.kernels.select_blocks import select_blocks_forward  # noqa: E402
from fsa_ops.kernels.selected_attention import (  # noqa: E402
    forward_chunk_tokens, forward_overlaps_merge,
    selected_attention_forward)


def forward_with_knobs(seqlen: int, group: int, knobs: dict):
    """A closure running the forward launcher with `knobs` on fresh random inputs."""
    q, k, v, _, _ = branch_inputs(Bench(torch.device("cuda"), torch.bfloat16), seqlen, group)
    indices = random_selection(1, seqlen, KV_HEADS, NUM_SELECTED, BLOCK, "cuda")
    return lambda: selected_attention_forward(q, k, v, indices, None, None, BLOCK,
                                              HEAD_DIM ** -0.5, **knobs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--backward", action="store_true")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--knobs", default="", help='forward launcher knobs, "dict(...)"')
    parser.add_argument("--select-blocks", action="store_true",
                        help="profile select_blocks instead (--knobs: its launcher's)")
    args = parser.parse_args()
    knobs = {}
    if args.knobs:
        call = ast.parse(args.knobs, mode="eval").body          # dict(a=1, ...) or {...}
        knobs = ({kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
                 if isinstance(call, ast.Call) else ast.literal_eval(call))
    if args.select_blocks:
        blocks_args = select_blocks_call(args.seqlen, args.group)
        step = lambda: select_blocks_forward(*blocks_args, **knobs)  # noqa: E731
        launches = "select_blocks, one launch per step"
    else:
        step = (forward_with_knobs(args.seqlen, args.group, knobs) if args.knobs
                else selected_step(args.seqlen, args.group, args.backward))
        q = torch.empty(1, args.seqlen, KV_HEADS * args.group, HEAD_DIM, dtype=torch.bfloat16,
                        device="meta")
        k = torch.empty(1, args.seqlen, KV_HEADS, HEAD_DIM, dtype=torch.bfloat16, device="meta")
        tokens = forward_chunk_tokens(q, k, NUM_SELECTED)
        if not args.knobs and forward_overlaps_merge(q, k, NUM_SELECTED):
            chunks = -(-args.seqlen // tokens)
            launches = (f"{chunks} token chunks per forward, merge overlapped: _selected_partials, "
                        f"{chunks - 1} x _partials_and_merge, _merge_partials")
        else:
            launches = f"{-(-args.seqlen // tokens)} token chunks per call"
    print(f"T={args.seqlen} G={args.group}: {launches}", flush=True)
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
