"""Session 26: is the NSA layer at 8K host-bound? Layer fwd+bwd (and the selected op's forward)
at T = 8K, 16K, 8K again in one process: do_bench ms, kernel ms per step (torch.profiler),
CPU ms per step, kernel launches and synchronising CUDA runtime calls per step."""
import collections
import time
import torch
import triton.testing
from torch.profiler import profile, ProfilerActivity
import fsa_ops
from benchmarks.run import BLOCK, KV_HEADS, NUM_SELECTED, WINDOW, Bench, branch_inputs, random_selection

bench = lambda f: triton.testing.do_bench(f, warmup=25, rep=200, return_mode="median")
b = Bench(torch.device("cuda"), torch.bfloat16)
G = 4
for T in (8192, 16384, 8192, 65536, 8192):
    q, k, v, kc, vc = branch_inputs(b, T, G, requires_grad=True)
    gates = [torch.rand(1, T, KV_HEADS * G, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
    inputs = (q, k, v, kc, vc, *gates)
    do = torch.randn_like(q)
    def step():
        o = fsa_ops.nsa_attention(*inputs, window_size=WINDOW)
        torch.autograd.grad(o, inputs, do)
    idx = random_selection(1, T, KV_HEADS, NUM_SELECTED, BLOCK, "cuda")
    def selected():
        with torch.no_grad():
            torch.ops.fsa.selected_attention(q, k, v, idx, None, None, BLOCK, 128 ** -0.5, False)
    ms_layer, ms_sel = bench(step), bench(selected)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        start = time.perf_counter()
        for _ in range(5):
            step()
        cpu = (time.perf_counter() - start) / 5 * 1e3
        torch.cuda.synchronize()
    kernels, runtime = 0.0, collections.Counter()
    launches = 0
    for e in p.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            kernels += e.device_time_total / 5 / 1e3
        elif e.name.startswith("cuda") or e.name.startswith("cu"):
            runtime[e.name] += 1
    launches = sum(n for name, n in runtime.items() if "Launch" in name)
    syncs = {name: n // 5 for name, n in runtime.items() if "Synchronize" in name or "Memcpy" in name}
    print(f"T={T} G={G}: layer fwd+bwd {ms_layer:.3f} ms (do_bench), kernels {kernels:.3f} ms, "
          f"host {cpu:.3f} ms per step (not synchronised), launches/step {launches // 5}, "
          f"sync-type calls/step {syncs}; selected fwd {ms_sel:.3f} ms", flush=True)
