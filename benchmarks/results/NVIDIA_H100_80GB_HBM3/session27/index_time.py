"""Session 27: one block_index + work_list build at 64K (GPU time, do_bench), and the selected op
forward and forward+backward at 64K, G = 4 (this tree: run it from each tree's root)."""
import sys, torch, triton
sys.path.insert(0, ".")
import fsa_ops
from fsa_ops.kernels import selected_attention as sa
from fsa_ops.kernels.common import sequence_tables
from benchmarks.run import random_selection
T, Hkv, n, BLOCK, D = 65536, 4, 16, 64, 128
for G in (1, 4, 16):
    q = torch.randn(1, T, Hkv * G, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(1, T, Hkv, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    idx = random_selection(1, T, Hkv, n, BLOCK, torch.device('cuda'))
    row_seq, cu_q, cu_k = sequence_tables(q, None, None, T)
    chunk = sa.chunk_tokens_for(q, n)
    build = lambda: sa.work_list(sa.block_index(idx, row_seq, cu_k, BLOCK, T, chunk), 1024)
    ms_build = triton.testing.do_bench(build, rep=300)
    fwd = lambda: torch.ops.fsa.selected_attention(q, k, v, idx, None, None, BLOCK, D ** -0.5, False)
    with torch.no_grad():
        ms_fwd = triton.testing.do_bench(fwd, rep=500)
    do = torch.randn_like(q)
    def fb():
        o, _ = fwd()
        torch.autograd.grad(o, (q, k, v), do)
    ms_fb = triton.testing.do_bench(fb, rep=800)
    print(f"G={G}: block_index+work_list {ms_build:.3f} ms, selected fwd {ms_fwd:.3f} ms, fwd+bwd {ms_fb:.3f} ms", flush=True)
    del q, k, v, do; torch.cuda.empty_cache()
