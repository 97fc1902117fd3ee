"""Every Triton kernel, forward and backward, once at small shapes: the workload that
scripts/sanitize.sh runs under compute-sanitizer (memcheck, racecheck).

Batched and packed (with 0- and 1-token sequences), G = 1 and 3, bf16, ragged lengths; then
the attention ops again with check_values=False on indices and cu_seqlens that break the
contract (the kernels must stay in bounds).
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fsa_ops  # noqa: E402,F401
from strategies import Problem  # noqa: E402

fsa = torch.ops.fsa
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def run(p: Problem):
    t = p.tensors(device=DEVICE, requires_grad=True)
    cu_q, cu_k = p.cu_seqlens(DEVICE)
    kw = p.block_kwargs()
    o = fsa_ops.nsa_attention(t["q"], t["k"], t["v"], t["k_cmp"], t["v_cmp"], t["g_cmp"],
                              t["g_slc"], t["g_swa"], cu_seqlens=cu_q, **kw)
    o.backward(torch.randn_like(o))
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def run_unchecked(p: Problem):
    """check_values=False with values that break the contract: indices below -1 and past the
    sequence's blocks, cu_seqlens that decrease, overshoot and do not start at 0. The kernels
    must stay inside their tensors."""
    t = p.tensors(device=DEVICE, requires_grad=True)
    cu_q, cu_k = p.cu_seqlens(DEVICE)
    idx = p.random_indices(DEVICE)
    idx.view(-1)[::7] = 10**6
    idx.view(-1)[3::11] = -5
    if p.packed:
        cu_q = cu_q.flip(0).contiguous() * 3 + 1         # decreasing, past the end, not from 0
        cu_k = cu_k.flip(0).contiguous() * 3 + 1
    outs = [fsa.selected_attention(t["q"], t["k"], t["v"], idx, cu_q, cu_k, p.select_block_size,
                                   p.scale, False)[0],
            fsa.window_attention(t["q"], t["k"], t["v"], cu_q, cu_k, p.window_size, p.scale,
                                 False)[0],
            fsa.compressed_attention(t["q"], t["k_cmp"], t["v_cmp"], cu_q, cu_k, p.seqlen_k,
                                     p.compress_block_size, p.compress_stride, p.scale, False)[0]]
    sum(o.float().sum() for o in outs).backward()
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def main():
    common = dict(num_kv_heads=2, head_dim=64, compress_block_size=32, compress_stride=16,
                  select_block_size=64, num_selected_blocks=4, num_init_blocks=1,
                  num_local_blocks=1, window_size=100, dtype=torch.bfloat16, seed=1)
    for group in (1, 3):
        run(Problem(batch=2, q_lens=[300, 300], k_lens=[300, 300], packed=False, group=group,
                    **common))
        lens = [200, 0, 1, 129]
        run(Problem(batch=1, q_lens=lens, k_lens=lens, packed=True, group=group, **common))
        run_unchecked(Problem(batch=2, q_lens=[300, 300], k_lens=[300, 300], packed=False,
                              group=group, **common))
        run_unchecked(Problem(batch=1, q_lens=lens, k_lens=lens, packed=True, group=group,
                              **common))
    print("sanitize workload done")


if __name__ == "__main__":
    main()
