"""Time the selected backward of the tree on sys.path: python bwd_time.py G '{json knobs}' ..."""
import json, sys
import torch, triton.testing
import fsa_ops  # noqa
from fsa_ops.kernels.selected_attention import selected_attention_backward, selected_attention_forward
from benchmarks.run import random_selection
from fsa_ops.testing import rel_error

t, hkv, d = 65536, 4, 128
for g in [int(x) for x in sys.argv[1].split(",")]:
    torch.manual_seed(g)
    q = torch.randn(1, t, hkv * g, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, t, hkv, d, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, t, hkv, d, device="cuda", dtype=torch.bfloat16)
    idx = random_selection(1, t, hkv, 16, 64, "cuda")
    scale = d ** -0.5
    o, lse = selected_attention_forward(q, k, v, idx, None, None, 64, scale)
    do = torch.randn_like(q)
    flops = 4 * t * hkv * g * 16 * 64 * d * 2.5
    base = None
    for spec in sys.argv[2:]:
        knobs = json.loads(spec)
        fn = lambda: selected_attention_backward(do, q, k, v, idx, o, lse, None, None, 64, scale, **knobs)
        out = fn()
        base = out if base is None else base
        err = max(rel_error(a, b) for a, b in zip(out, base))
        del out
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        fn(); torch.cuda.synchronize()
        extra = (torch.cuda.max_memory_allocated() - start) / 2**20
        ms = triton.testing.do_bench(fn, warmup=10, rep=80, return_mode="median")
        print(f"G={g:<3} {spec:<40} {ms:8.3f} ms {flops / ms / 1e9:6.1f} TFLOP/s  peak {extra:7.0f} MiB  err vs first {err:.1e}", flush=True)
