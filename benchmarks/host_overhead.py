"""Is the NSA layer host-bound? Its forward+backward per step, eager, compiled and compiled with
CUDA graphs (`mode="reduce-overhead"`), against the kernel time and the host time of a step.

    python benchmarks/host_overhead.py [--seqlens 8192 16384 65536] [--groups 4]
        [--modes eager compiled cudagraphs]

Per (T, G, mode) it prints:
- the do_bench median of a step;
- the kernel time of a step (torch.profiler, summed over CUDA kernels);
- the host time of a step, not synchronised. The profiler inflates it, so read it against
  the others, not alone;
- the kernel launches per step.

A step whose median is near its host time and well above its kernel time is host-bound.
Session 26 (H100, eager, G = 4) found this at 8K and 16K: ~10 ms a step for 3.2 / 6.1 ms of
kernels, 195 launches (`benchmarks/results/NVIDIA_H100_80GB_HBM3/session26/`).

On a CPU (no timings) it runs one step per mode, to check that the script works.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from benchmarks.run import KV_HEADS, WINDOW, Bench, branch_inputs  # noqa: E402


def layer_step(bench: Bench, seqlen: int, group: int, mode: str = "eager", deterministic: bool = True):
    """A closure running one NSA layer forward+backward on fresh random inputs, in `mode`
    (eager, compiled or cudagraphs)."""
    q, k, v, kc, vc = branch_inputs(bench, seqlen, group, requires_grad=True)
    gates = [torch.rand(1, seqlen, KV_HEADS * group, device=bench.device, dtype=bench.dtype,
                        requires_grad=True) for _ in range(3)]
    inputs = (q, k, v, kc, vc, *gates)
    grad = torch.randn_like(q)
    attention = lambda *t: fsa_ops.nsa_attention(*t, window_size=WINDOW, check_values=False,  # noqa: E731
                                                 deterministic=deterministic)
    if mode == "compiled":
        attention = torch.compile(attention, fullgraph=True)
    elif mode == "cudagraphs":
        attention = torch.compile(attention, fullgraph=True, mode="reduce-overhead")

    def step():
        if mode == "cudagraphs":
            torch.compiler.cudagraph_mark_step_begin()     # the previous step's outputs are dead
        torch.autograd.grad(attention(*inputs), inputs, grad)
    return step


def profile_step(step, repeats: int = 5):
    """(kernel ms, host ms, launches) per step, from torch.profiler over `repeats` steps."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        host = (time.perf_counter() - start) / repeats * 1e3
        torch.cuda.synchronize()
    kernels, launches = 0.0, 0
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels += event.device_time_total / 1e3
        elif "LaunchKernel" in event.name or event.name.startswith("cudaGraphLaunch"):
            launches += 1
    return kernels / repeats, host, launches // repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seqlens", type=int, nargs="+", default=[8192, 16384, 65536])
    parser.add_argument("--groups", type=int, nargs="+", default=[4])
    parser.add_argument("--modes", nargs="+", choices=["eager", "compiled", "cudagraphs"],
                        default=["eager", "compiled", "cudagraphs"])
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bench = Bench(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    torch._dynamo.config.recompile_limit = 1024
    for seqlen in args.seqlens:
        for group in args.groups:
            for mode in args.modes:
                step = layer_step(bench, seqlen, group, mode)
                step()                                          # compiles, if it does
                if device.type != "cuda":
                    print(f"T={seqlen} G={group} {mode}: ran (CPU: no timings)", flush=True)
                    continue
                ms = bench.time(step)
                kernels, host, launches = profile_step(step)
                print(f"T={seqlen} G={group} {mode:<10}: {ms:8.3f} ms a step (do_bench), kernels "
                      f"{kernels:8.3f} ms, host {host:8.3f} ms (profiled), {launches} launches",
                      flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
