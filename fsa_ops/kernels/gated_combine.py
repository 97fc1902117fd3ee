"""gated_combine forward: o = g_cmp * o_cmp + g_slc * o_slc + g_swa * o_swa, one pass."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _gated_combine_fwd(O_CMP, O_SLC, O_SWA, G_CMP, G_SLC, G_SWA, OUT, num_rows,
                       HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """Branches and OUT [rows, D] contiguous, gates [rows]; rows = B * T * Hq."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    d = tl.arange(0, BLOCK_D)
    r_ok = r < num_rows
    mask = r_ok[:, None] & (d[None, :] < HEAD_DIM)
    offsets = r[:, None].to(tl.int64) * HEAD_DIM + d[None, :]
    out = tl.zeros([BLOCK_R, BLOCK_D], tl.float32)
    out += tl.load(G_CMP + r, mask=r_ok).to(tl.float32)[:, None] * tl.load(O_CMP + offsets, mask=mask).to(tl.float32)
    out += tl.load(G_SLC + r, mask=r_ok).to(tl.float32)[:, None] * tl.load(O_SLC + offsets, mask=mask).to(tl.float32)
    out += tl.load(G_SWA + r, mask=r_ok).to(tl.float32)[:, None] * tl.load(O_SWA + offsets, mask=mask).to(tl.float32)
    tl.store(OUT + offsets, out.to(OUT.dtype.element_ty), mask=mask)


def gated_combine_forward(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    """Branch outputs [B, T, Hq, D], gates [B, T, Hq] -> [B, T, Hq, D]."""
    branches = [x.contiguous() for x in (o_cmp, o_slc, o_swa)]
    gates = [g.contiguous() for g in (g_cmp, g_slc, g_swa)]
    out = torch.empty_like(branches[0])
    head_dim = out.shape[-1]
    num_rows = out.numel() // head_dim if head_dim else 0
    if num_rows == 0:
        return out
    block_d = max(16, triton.next_power_of_2(head_dim))
    block_r = max(1, 4096 // block_d)
    _gated_combine_fwd[(triton.cdiv(num_rows, block_r),)](
        *branches, *gates, out, num_rows, HEAD_DIM=head_dim, BLOCK_R=block_r, BLOCK_D=block_d)
    return out
