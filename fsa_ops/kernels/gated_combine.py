"""gated_combine: o = g_cmp * o_cmp + g_slc * o_slc + g_swa * o_swa, forward and backward, each
one pointwise pass over rows of D (rows = B * T * Hq)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _row_tile(num_rows, HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """The program's BLOCK_R rows of a [rows, D] tensor: (rows, row mask, offsets, mask)."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    d = tl.arange(0, BLOCK_D)
    r_ok = r < num_rows
    return r, r_ok, r[:, None].to(tl.int64) * HEAD_DIM + d[None, :], r_ok[:, None] & (d[None, :] < HEAD_DIM)


@triton.jit
def _gated_combine_fwd(O_CMP, O_SLC, O_SWA, G_CMP, G_SLC, G_SWA, OUT, num_rows,
                       HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """Branches and OUT [rows, D] contiguous, gates [rows]."""
    r, r_ok, offsets, mask = _row_tile(num_rows, HEAD_DIM, BLOCK_R, BLOCK_D)
    out = tl.zeros([BLOCK_R, BLOCK_D], tl.float32)
    out += tl.load(G_CMP + r, mask=r_ok).to(tl.float32)[:, None] * tl.load(O_CMP + offsets, mask=mask).to(tl.float32)
    out += tl.load(G_SLC + r, mask=r_ok).to(tl.float32)[:, None] * tl.load(O_SLC + offsets, mask=mask).to(tl.float32)
    out += tl.load(G_SWA + r, mask=r_ok).to(tl.float32)[:, None] * tl.load(O_SWA + offsets, mask=mask).to(tl.float32)
    tl.store(OUT + offsets, out.to(OUT.dtype.element_ty), mask=mask)


@triton.jit
def _gated_branch_bwd(do, O, G, D_O, D_G, r, r_ok, offsets, mask):
    """One branch: d o = g * do, d g = sum_d do * o."""
    gate = tl.load(G + r, mask=r_ok).to(tl.float32)
    tl.store(D_O + offsets, (gate[:, None] * do).to(D_O.dtype.element_ty), mask=mask)
    o = tl.load(O + offsets, mask=mask, other=0.0).to(tl.float32)
    tl.store(D_G + r, tl.sum(do * o, 1).to(D_G.dtype.element_ty), mask=r_ok)


@triton.jit
def _gated_combine_bwd(DO, O_CMP, O_SLC, O_SWA, G_CMP, G_SLC, G_SWA,
                       D_O_CMP, D_O_SLC, D_O_SWA, D_G_CMP, D_G_SLC, D_G_SWA, num_rows,
                       HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """DO, branches and their gradients [rows, D] contiguous; gates and theirs [rows]."""
    r, r_ok, offsets, mask = _row_tile(num_rows, HEAD_DIM, BLOCK_R, BLOCK_D)
    do = tl.load(DO + offsets, mask=mask, other=0.0).to(tl.float32)
    _gated_branch_bwd(do, O_CMP, G_CMP, D_O_CMP, D_G_CMP, r, r_ok, offsets, mask)
    _gated_branch_bwd(do, O_SLC, G_SLC, D_O_SLC, D_G_SLC, r, r_ok, offsets, mask)
    _gated_branch_bwd(do, O_SWA, G_SWA, D_O_SWA, D_G_SWA, r, r_ok, offsets, mask)


def _launch(kernel, tensors, head_dim: int, num_rows: int):
    block_d = max(16, triton.next_power_of_2(head_dim))
    block_r = max(1, 4096 // block_d)
    kernel[(triton.cdiv(num_rows, block_r),)](*tensors, num_rows, HEAD_DIM=head_dim,
                                              BLOCK_R=block_r, BLOCK_D=block_d)


def gated_combine_forward(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    """Branch outputs [B, T, Hq, D], gates [B, T, Hq] -> [B, T, Hq, D]."""
    branches = [x.contiguous() for x in (o_cmp, o_slc, o_swa)]
    gates = [g.contiguous() for g in (g_cmp, g_slc, g_swa)]
    out = torch.empty_like(branches[0])
    head_dim = out.shape[-1]
    if out.numel() > 0:
        _launch(_gated_combine_fwd, (*branches, *gates, out), head_dim, out.numel() // head_dim)
    return out


def gated_combine_backward(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    """do and branches [B, T, Hq, D], gates [B, T, Hq] ->
    (d o_cmp, d o_slc, d o_swa, d g_cmp, d g_slc, d g_swa), each like its input."""
    branches = [x.contiguous() for x in (o_cmp, o_slc, o_swa)]
    gates = [g.contiguous() for g in (g_cmp, g_slc, g_swa)]
    grads = [torch.empty_like(x) for x in branches + gates]
    head_dim = do.shape[-1]
    if do.numel() > 0:
        _launch(_gated_combine_bwd, (do.contiguous(), *branches, *gates, *grads), head_dim,
                do.numel() // head_dim)
    else:
        for g in grads:
            g.zero_()
    return tuple(grads)
