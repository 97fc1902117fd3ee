"""Where the time of one NSA layer goes: every CUDA kernel of `nsa_attention` forward and
backward (SPEC §6 workload, bf16, Hkv=4, D=128), from torch.profiler, summed per kernel name.

    python benchmarks/profile_layer.py [--seqlen 65536] [--groups 1 4 16] [--out DIR]
        [--op layer|selected|selected_fwd]

`--op selected` profiles selected_attention forward + backward alone on a random valid
selection (the benchmark's), `selected_fwd` its forward alone.

Prints, per G, one table: kernel, calls per step, ms per step, share of the step. Inputs are
fresh random tensors; the selection is the one select_blocks makes from them.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from benchmarks import host_overhead  # noqa: E402
from benchmarks.run import (BLOCK, KV_HEADS, NUM_SELECTED, Bench,  # noqa: E402
                            branch_inputs, random_selection)


def selected_step(seqlen: int, group: int, backward: bool):
    """A closure running selected_attention forward (and backward) once on fresh random inputs."""
    bench = Bench(torch.device("cuda"), torch.bfloat16)
    q, k, v, _, _ = branch_inputs(bench, seqlen, group, requires_grad=backward)
    indices = random_selection(1, seqlen, KV_HEADS, NUM_SELECTED, BLOCK, "cuda")
    grad = torch.randn_like(q)

    def step():
        out, _ = torch.ops.fsa.selected_attention(q, k, v, indices, None, None, BLOCK,
                                                  q.shape[-1] ** -0.5, False)
        if backward:
            torch.autograd.grad(out, (q, k, v), grad)
    return step


def layer_step(seqlen: int, group: int, deterministic: bool = True):
    """A closure running nsa_attention forward + backward once on fresh random inputs."""
    return host_overhead.layer_step(Bench(torch.device("cuda"), torch.bfloat16), seqlen, group,
                                    deterministic=deterministic)


def profile(step, repeats: int = 3):
    """{kernel name: (calls, total ms)} over `repeats` steps, after one warm-up step."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    step()
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(repeats):
            step()
        torch.cuda.synchronize()
    totals = defaultdict(lambda: [0, 0.0])
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            totals[event.name][0] += 1
            totals[event.name][1] += event.device_time_total / 1000
    return {name: (calls / repeats, ms / repeats) for name, (calls, ms) in totals.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--op", choices=["layer", "selected", "selected_fwd"], default="layer")
    args = parser.parse_args()
    lines = [f"# python benchmarks/profile_layer.py --seqlen {args.seqlen} --groups "
             f"{' '.join(map(str, args.groups))} --op {args.op}  ({torch.cuda.get_device_name()}, torch "
             f"{torch.__version__})"]
    for group in args.groups:
        step = (layer_step(args.seqlen, group) if args.op == "layer" else
                selected_step(args.seqlen, group, backward=args.op == "selected"))
        kernels = profile(step)
        total = sum(ms for _, ms in kernels.values())
        step_name = "forward" if args.op == "selected_fwd" else "fwd+bwd step"
        table = [f"\n## T={args.seqlen} G={group}: {total:.2f} ms of kernels per {step_name}"]
        for name, (calls, ms) in sorted(kernels.items(), key=lambda kv: -kv[1][1]):
            if ms >= 0.01 * total or ms > 0.2:
                table.append(f"{ms:9.3f} ms {100 * ms / total:5.1f}%  x{calls:<4g} {name[:90]}")
        print("\n".join(table), flush=True)
        lines += table
        torch.cuda.empty_cache()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"profile_{args.op}_{args.seqlen}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
