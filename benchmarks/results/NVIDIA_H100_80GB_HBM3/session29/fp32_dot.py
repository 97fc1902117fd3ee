"""Session 29 (branch s29-tf32x3): float32 kernels with FSA_FLOAT32_DOT as set in the
environment. Prints the relative errors of every forward and backward op against the float64
oracle at the long cases' shapes, then fwd and fwd+bwd ms of the selected and window ops.

    FSA_FLOAT32_DOT=ieee   python benchmarks/results/NVIDIA_H100_80GB_HBM3/session29/fp32_dot.py 1000 4
    FSA_FLOAT32_DOT=tf32x3 python benchmarks/results/NVIDIA_H100_80GB_HBM3/session29/fp32_dot.py 1000 4

(SEQLEN [G ...]: the oracle comparisons' length and groups, G = 4 by default.)
"""
import os, sys, time
sys.path.insert(0, "tests"); sys.path.insert(0, ".")
import torch, triton
from fsa_ops.kernels import common
from fsa_ops.testing import rel_error
from test_kernels import long_problem, run_forward_ops, run_backward_ops

print("FLOAT32_DOT", common.FLOAT32_DOT, flush=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"   # cpu: TRITON_INTERPRET=1, no timing
seqlen = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
for group in map(int, sys.argv[2:] or ["4"]):
    p = long_problem(seqlen, group, torch.float32)
    t0 = time.time()
    fwd = run_forward_ops(p, dev)
    gap = fwd.pop("select_blocks")
    errs = [f"select gap {gap:.1e}"]
    for name, pairs in fwd.items():
        (o, ref), *_ = pairs
        errs.append(f"{name} o {rel_error(o, ref):.1e}")
    for name, pairs in run_backward_ops(p, dev).items():
        worst = max(rel_error(g, r, floor) for g, (r, floor) in pairs)
        errs.append(f"{name} grads {worst:.1e}")
    print(f"T={seqlen} G={group} ({time.time() - t0:.0f} s):", "; ".join(errs), flush=True)

if dev == "cpu":
    sys.exit()
# Timing: fp32 selected and window ops at 16K, G = 4, Hkv = 4, D = 128.
T, G, H, D = 16384, 4, 4, 128
q = torch.randn(1, T, G * H, D, device=dev, requires_grad=True)
k = torch.randn(1, T, H, D, device=dev, requires_grad=True)
v = torch.randn(1, T, H, D, device=dev, requires_grad=True)
blocks = T // 64
tok = torch.arange(T, device=dev)
idx = torch.randint(0, blocks, (1, T, H, 16), device=dev, dtype=torch.int32)
idx = torch.where(idx <= (tok // 64)[None, :, None, None], idx, -1).sort(-1, descending=True).values
fsa = torch.ops.fsa
calls = {
    "selected": lambda: fsa.selected_attention(q, k, v, idx, None, None, 64, D ** -0.5, False)[0],
    "window": lambda: fsa.window_attention(q, k, v, None, None, 512, D ** -0.5, False)[0],
}
do = torch.randn_like(q)
for name, f in calls.items():
    with torch.no_grad():
        fwd_ms = triton.testing.do_bench(f)
    def fb():
        torch.autograd.grad(f(), (q, k, v), do)
    print(f"{name} fp32 16K G=4: fwd {fwd_ms:.3f} ms, fwd+bwd {triton.testing.do_bench(fb):.3f} ms", flush=True)
