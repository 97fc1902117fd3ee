"""Session 28: the selected forward at 64K with its default token chunks (call 1: the old default
against the backward's chunks; call 2: the new default, the backward's, against the old, 4K and 2K).
Outputs must match the default's bitwise (the chunking moves no arithmetic)."""
import sys, torch, triton
sys.path.insert(0, ".")
import fsa_ops
from fsa_ops.kernels import selected_attention as sa
from benchmarks.run import random_selection
T, Hkv, n, BLOCK, D = 65536, 4, 16, 64, 128
for G in [int(g) for g in sys.argv[1:] if g.isdigit()] or (2, 4, 8, 16):
    torch.manual_seed(G)
    q = torch.randn(1, T, Hkv * G, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    idx = random_selection(1, T, Hkv, n, BLOCK, torch.device("cuda"))
    bwd_chunk = sa.backward_chunk_tokens(q, n)
    print(f"G={G}: forward default chunk {sa.forward_chunk_tokens(q, n, group=G)}, old {sa.chunk_tokens_for(q, n)} (overlap {sa.forward_overlaps_merge(q, k, n)}), "
          f"backward chunk {bwd_chunk}", flush=True)
    if len(sys.argv) > 1 and sys.argv[1] == "call3":
        sizes = {1: (32768, 16384), 16: (1024, 4096), 8: (2048, 8192)}.get(G, ())
        variants = {"default (new)": {}, **{f"chunk_{c}": dict(chunk_tokens=c) for c in sizes}}
    else:
        variants = {"default (new)": {}, "old default": dict(chunk_tokens=sa.chunk_tokens_for(q, n)),
                    "chunk_4096": dict(chunk_tokens=4096), "chunk_2048": dict(chunk_tokens=2048)}
    ref = None
    for name, kw in variants.items():
        run = lambda: sa.selected_attention_forward(q, k, v, idx, None, None, BLOCK, D ** -0.5, **kw)
        o, lse = run()
        same = "" if ref is None else ("bitwise" if torch.equal(o, ref[0]) and torch.equal(lse, ref[1]) else "DIFFERS")
        ref = ref or (o.clone(), lse.clone())
        del o, lse
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        ms = triton.testing.do_bench(run, rep=400)
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30
        print(f"  {name:20s} {ms:8.3f} ms  peak {peak:5.2f} GiB  {same}", flush=True)
    del q, k, v, ref; torch.cuda.empty_cache()
