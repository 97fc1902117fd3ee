"""Session 26: what rebuilding the selected branch's block index costs, against the selected
forward and fwd+bwd, at 64K (H100). Usage: python index_cost.py G..."""
import sys
import torch
import triton.testing
from benchmarks.run import BLOCK, KV_HEADS, NUM_SELECTED, random_selection
from fsa_ops.kernels import selected_attention as sa
from fsa_ops.kernels.common import sequence_tables

T, D = 65536, 128
for G in map(int, sys.argv[1:]):
    q = torch.randn(1, T, KV_HEADS * G, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(1, T, KV_HEADS, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    idx = random_selection(1, T, KV_HEADS, NUM_SELECTED, BLOCK, "cuda")
    row_seq, cu_q, cu_k = sequence_tables(q, None, None, T)
    fwd_tokens = (sa.overlapped_chunk_tokens(q, NUM_SELECTED) if sa.forward_overlaps_merge(q, k, NUM_SELECTED)
                  else sa.chunk_tokens_for(q, NUM_SELECTED))
    bwd_tokens = sa.backward_chunk_tokens(q, NUM_SELECTED)
    bench = lambda f: triton.testing.do_bench(f, warmup=25, rep=200, return_mode="median")
    t_fwd_index = bench(lambda: sa.block_index(idx, row_seq, cu_k, BLOCK, T, fwd_tokens))
    t_bwd_index = bench(lambda: sa.block_index(idx, row_seq, cu_k, BLOCK, T, bwd_tokens))
    op = lambda: torch.ops.fsa.selected_attention(q, k, v, idx, None, None, BLOCK, D ** -0.5, False)[0]
    with torch.no_grad():
        t_f = bench(op)
    g = torch.randn_like(q)
    t_fb = bench(lambda: torch.autograd.grad(op(), (q, k, v), g))
    print(f"G={G}: chunk tokens fwd {fwd_tokens} bwd {bwd_tokens}; index build fwd {t_fwd_index:.3f} ms, "
          f"bwd {t_bwd_index:.3f} ms; selected fwd {t_f:.3f} ms, fwd+bwd {t_fb:.3f} ms; "
          f"backward's rebuild = {100 * t_bwd_index / t_fb:.1f}% of fwd+bwd", flush=True)
