"""`nsa_attention`: the three NSA branches and their gate, composed from `torch.ops.fsa`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from . import validation as check
from .ops import _compressed_attention_grad, _selected_attention_grad, _window_attention_grad


@dataclass(frozen=True)
class NSAConfig:
    """Block parameters, with the NSA paper's defaults (SPEC §2)."""
    compress_block_size: int = 32      # l
    compress_stride: int = 16          # d
    select_block_size: int = 64        # l'
    num_selected_blocks: int = 16      # n
    num_init_blocks: int = 1
    num_local_blocks: int = 2
    window_size: int = 512             # w


_DEFAULT = NSAConfig()


def resolve_cu_seqlens(cu_seqlens, cu_seqlens_q, cu_seqlens_k):
    """`cu_seqlens` stands for both; otherwise the pair is taken as given."""
    if cu_seqlens is not None:
        if cu_seqlens_q is not None or cu_seqlens_k is not None:
            check.fail("nsa_attention", "cu_seqlens", "together with cu_seqlens_q/cu_seqlens_k",
                       "must be given alone (it stands for both)")
        return cu_seqlens, cu_seqlens
    return cu_seqlens_q, cu_seqlens_k


class _LateSelected(torch.autograd.Function):
    """o_slc [B, Tq, Hq, D], computed without autograd, given selected_attention's gradient
    by a node that also passes q through (q_compressed) for _LateCompressed: the dq of the
    other two branches comes back through it and goes to selected_attention_backward as
    dq_accumulate, so its dQ reduction adds it (no add kernel after it, eager or compiled).
    Its backward waits for that dq, so it runs last, as the selected op's own node did."""

    @staticmethod
    def forward(ctx, q, k, v, indices, o, lse, arguments, deterministic):
        """arguments: selected_attention's after indices, up to scale."""
        ctx.save_for_backward(q, k, v, indices, o, lse)
        ctx.arguments = (*arguments, False, deterministic)   # as the op's setup_context keeps them
        return o, q

    @staticmethod
    def backward(ctx, do, dq_compressed):
        return (*_selected_attention_grad(ctx, do, None, dq_compressed)[:3], None, None, None,
                None, None)


class _LateCompressed(torch.autograd.Function):
    """o_cmp [B, Tq, Hq, D], computed without autograd, given compressed_attention's gradient
    by a node made after the selected branch's; also passes q through (q_window), for the
    window branch's node (_LateWindow), so that the window's dq comes back here.

    Why late: autograd runs the newest ready node first. compressed_attention has to run
    first in the forward (select_blocks reads its lse), so its own node would run its backward
    last, keeping its saved o_cmp and its incoming gradient alive through the selected
    branch's backward, the layer's memory peak (0.5 GiB of 3.44 at 64K, G = 4, H200, session
    23). Made here, it runs before the selected backward.
    Why q passes through: the window's dq reaches q through this node, which hands it to
    compressed_attention_backward as dq_accumulate. One dq buffer, not two, is then alive
    during the selected backward, in eager autograd and in compiled graphs alike (Inductor
    would sum the branches' dq in one kernel after the last of them: 2.63 GiB against eager's
    2.39 at 64K, G = 4, H200, session 23), and no add kernel is needed for it."""

    @staticmethod
    def forward(ctx, q, k_cmp, v_cmp, o, lse, arguments):
        """arguments: compressed_attention's after v_cmp, check_values left out (one tuple:
        Dynamo refuses one tensor passed twice, as cu_seqlens_q and cu_seqlens_k often are)."""
        ctx.save_for_backward(q, k_cmp, v_cmp, o, lse)
        ctx.arguments = (*arguments, False)      # as the op's setup_context keeps them
        return o, q

    @staticmethod
    def backward(ctx, do, dq_window):
        return (*_compressed_attention_grad(ctx, do, None, dq_window)[:3], None, None, None)


class _LateWindow(torch.autograd.Function):
    """o_swa [B, Tq, Hq, D], computed without autograd, given window_attention's gradient
    (the op's own: ops._window_attention_grad) by the newest node: its backward runs first,
    and its dq goes to q through _LateCompressed's q_window."""

    @staticmethod
    def forward(ctx, q_window, k, v, o, lse, arguments):
        """arguments: window_attention's after v, check_values left out."""
        ctx.save_for_backward(q_window, k, v, o, lse)
        ctx.arguments = (*arguments, False)      # as the op's setup_context keeps them
        return o

    @staticmethod
    def backward(ctx, do):
        return (*_window_attention_grad(ctx, do, None)[:3], None, None, None)


def nsa_attention(q: Tensor, k: Tensor, v: Tensor, k_cmp: Tensor, v_cmp: Tensor, g_cmp: Tensor,
                  g_slc: Tensor, g_swa: Tensor, *,
                  compress_block_size: int = _DEFAULT.compress_block_size,
                  compress_stride: int = _DEFAULT.compress_stride,
                  select_block_size: int = _DEFAULT.select_block_size,
                  num_selected_blocks: int = _DEFAULT.num_selected_blocks,
                  num_init_blocks: int = _DEFAULT.num_init_blocks,
                  num_local_blocks: int = _DEFAULT.num_local_blocks,
                  window_size: int = _DEFAULT.window_size,
                  scale: Optional[float] = None,
                  cu_seqlens: Optional[Tensor] = None,
                  cu_seqlens_q: Optional[Tensor] = None,
                  cu_seqlens_k: Optional[Tensor] = None,
                  return_indices: bool = False,
                  check_values: Optional[bool] = None,
                  deterministic: bool = True):
    """Native Sparse Attention: g_cmp * compressed + g_slc * selected + g_swa * window.

    q [B, Tq, Hq, D]; k, v [B, Tk, Hkv, D]; k_cmp, v_cmp [B, Tc, Hkv, D] (packed:
    [1, Tk // compress_stride, Hkv, D], see fsa_ops.reference); gates [B, Tq, Hq], already
    activated. Returns o [B, Tq, Hq, D], and the selected block indices [B, Tq, Hkv, n] when
    `return_indices`. Differentiable in q, k, v, k_cmp, v_cmp and the gates; block selection
    is not (NSA's rule).

    `check_values`: check the values of the cu_seqlens (one host sync on a GPU). None means
    yes in eager mode and no inside `torch.compile`, whose graphs must not sync; the kernels
    stay in bounds either way (see `fsa_ops.ops`).

    `deterministic`: bitwise-reproducible gradients (the default). False lets the selected
    branch's CUDA backward add its gradients with float32 atomics: one pass, no slot partials,
    less memory; the gradients' last bits then vary from run to run.
    """
    cu_seqlens_q, cu_seqlens_k = resolve_cu_seqlens(cu_seqlens, cu_seqlens_q, cu_seqlens_k)
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    if check_values is None:
        check_values = not torch.compiler.is_compiling()
    seqlen_k = k.shape[1]
    fsa = torch.ops.fsa
    # The first op checks the cu_seqlens; the indices come from select_blocks, valid by
    # construction, so no later op reads data to check it again.
    cmp_arguments = (cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size, compress_stride,
                     scale)
    # Every branch runs on detached inputs; its gradient node comes after (_LateSelected,
    # _LateCompressed, _LateWindow), chained through q so that the backward runs window,
    # compressed, selected, each adding the dq before it. Block selection has no gradient.
    q_, k_, v_, k_cmp_ = q.detach(), k.detach(), v.detach(), k_cmp.detach()
    o_cmp, lse_cmp = fsa.compressed_attention(q_, k_cmp_, v_cmp.detach(), *cmp_arguments,
                                              check_values)
    indices = fsa.select_blocks(q_, k_cmp_, lse_cmp, cu_seqlens_q,
                                cu_seqlens_k, seqlen_k, compress_block_size, compress_stride,
                                select_block_size, num_selected_blocks, num_init_blocks,
                                num_local_blocks, scale, False)
    slc_arguments = (cu_seqlens_q, cu_seqlens_k, select_block_size, scale)
    o_slc, lse_slc = fsa.selected_attention(q_, k_, v_, indices, *slc_arguments, False,
                                            deterministic)
    swa_arguments = (cu_seqlens_q, cu_seqlens_k, window_size, scale)
    o_swa, lse_swa = fsa.window_attention(q_, k_, v_, *swa_arguments, False)
    o_slc, q_compressed = _LateSelected.apply(q, k, v, indices, o_slc, lse_slc, slc_arguments,
                                              deterministic)
    o_cmp, q_window = _LateCompressed.apply(q_compressed, k_cmp, v_cmp, o_cmp, lse_cmp,
                                            cmp_arguments)
    o_swa = _LateWindow.apply(q_window, k, v, o_swa, lse_swa, swa_arguments)
    o = fsa.gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return (o, indices) if return_indices else o
