"""NSA layer fwd+bwd at 64K (bf16, Hkv=4, D=128): eager and compiled ms and peak memory above
inputs, plus SDPA's, for the tree on sys.path. python layer_peak.py G [G ...]"""
import sys
import torch
import torch.nn.functional as F
import fsa_ops
from benchmarks.run import WINDOW, Bench, branch_inputs, fwd_bwd

b = Bench(torch.device("cuda"), torch.bfloat16)
for g in [int(x) for x in sys.argv[1:]]:
    torch.manual_seed(g)
    q, k, v, kc, vc = branch_inputs(b, 65536, g, requires_grad=True)
    gates = [torch.rand(q.shape[:3], device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
    inputs = (q, k, v, kc, vc, *gates)
    attention = lambda *t: fsa_ops.nsa_attention(*t, window_size=WINDOW)
    compiled = torch.compile(attention, fullgraph=True)
    for mode, fn in (("eager", attention), ("compiled", compiled)):
        step = fwd_bwd(lambda fn=fn: fn(*inputs), inputs)
        if mode == "compiled" and len(sys.argv) > 1 and __import__("os").environ.get("DUMP"):
            from torch._inductor.utils import run_and_get_code
            _, codes = run_and_get_code(step)
            open(__import__("os").environ["DUMP"], "w").write(codes[-1])
        step()
        ms = b.time(step)
        peak = b.peak(step) / 2**30
        print(f"G={g} nsa {mode:9s} fwdbwd {ms:8.3f} ms  peak {peak:6.3f} GiB", flush=True)
    qs, ks, vs = (x.detach().transpose(1, 2).contiguous().requires_grad_() for x in (q, k, v))
    sd = lambda: F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=True)
    step = fwd_bwd(sd, (qs, ks, vs))
    step()
    ms = b.time(step)
    peak = b.peak(step) / 2**30
    print(f"G={g} sdpa eager     fwdbwd {ms:8.3f} ms  peak {peak:6.3f} GiB", flush=True)
    del q, k, v, kc, vc, gates, inputs, qs, ks, vs
    torch.cuda.empty_cache()
