"""Fake (meta) implementations of every `torch.ops.fsa` op.

They run the same argument checks as the real kernels (so torch.compile reports the same
errors as eager mode) and build empty outputs from shapes alone: no data is read (so
`check_values` is left to the real kernel), and every size is an expression of the input
sizes, so symbolic sequence lengths work.
"""

from __future__ import annotations

import torch

from fsa_ops import validation as check


def _lse_like(q: torch.Tensor) -> torch.Tensor:
    dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    return q.new_empty(q.shape[:3], dtype=dtype)


@torch.library.register_fake("fsa::compressed_attention")
def _(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
      compress_stride, scale, check_values=True):
    check.check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                     compress_block_size, compress_stride, scale)
    return q.new_empty(q.shape), _lse_like(q)


@torch.library.register_fake("fsa::select_blocks")
def _(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size, compress_stride,
      select_block_size, num_selected_blocks, num_init_blocks, num_local_blocks, scale,
      check_values=True):
    check.check_select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                              compress_block_size, compress_stride, select_block_size,
                              num_selected_blocks, num_init_blocks, num_local_blocks, scale)
    return q.new_empty((q.shape[0], q.shape[1], k_cmp.shape[2], num_selected_blocks),
                       dtype=torch.int32)


@torch.library.register_fake("fsa::selected_attention")
def _(q, k, v, indices, cu_seqlens_q, cu_seqlens_k, select_block_size, scale, check_values=True,
      deterministic=True):
    check.check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                   select_block_size, scale)
    return q.new_empty(q.shape), _lse_like(q)


@torch.library.register_fake("fsa::window_attention")
def _(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale, check_values=True):
    check.check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale)
    return q.new_empty(q.shape), _lse_like(q)


@torch.library.register_fake("fsa::gated_combine")
def _(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    check.check_gates("gated_combine", o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return o_cmp.new_empty(o_cmp.shape)


@torch.library.register_fake("fsa::compressed_attention_backward")
def _(do, q, k_cmp, v_cmp, o, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
      compress_stride, scale, check_values=True, dq_accumulate=None):
    op = "compressed_attention_backward"
    check.check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                     compress_block_size, compress_stride, scale, op=op)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    return q.new_empty(q.shape), k_cmp.new_empty(k_cmp.shape), v_cmp.new_empty(v_cmp.shape)


@torch.library.register_fake("fsa::selected_attention_backward")
def _(do, q, k, v, indices, o, lse, cu_seqlens_q, cu_seqlens_k, select_block_size, scale,
      check_values=True, deterministic=True, dq_accumulate=None):
    op = "selected_attention_backward"
    check.check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                   select_block_size, scale, op=op)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


@torch.library.register_fake("fsa::window_attention_backward")
def _(do, q, k, v, o, lse, cu_seqlens_q, cu_seqlens_k, window_size, scale, check_values=True,
      dq_accumulate=None):
    op = "window_attention_backward"
    check.check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale, op=op)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


@torch.library.register_fake("fsa::gated_combine_backward")
def _(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    check.check_gates("gated_combine_backward", o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa, do)
    return (*(o.new_empty(o.shape) for o in (o_cmp, o_slc, o_swa)),
            *(g.new_empty(g.shape) for g in (g_cmp, g_slc, g_swa)))
