"""Triton kernels for the `torch.ops.fsa` ops, registered per device.

On CUDA every op, forward and backward, runs these kernels; with TRITON_INTERPRET=1 (set
before importing fsa_ops) they are the CPU kernels too, so CPU-only CI exercises their logic.
Each launcher validates exactly as the reference path does (`check_values` included);
unchecked values cannot make a kernel access memory out of bounds. Float64 inputs, which Triton's
matrix units do not take, go to the reference.
"""

from __future__ import annotations

import os

import torch

from .. import reference
from .. import validation as check

try:
    import triton  # noqa: F401
except ImportError:            # no Triton: every device keeps the reference
    triton = None
else:
    from . import gated_combine, range_attention, select_blocks, selected_attention
    from .common import MODE_COMPRESSED, MODE_WINDOW

_REGISTERED: set[str] = set()


def registered_devices() -> set[str]:
    return set(_REGISTERED)


def _devices() -> list[str]:
    if triton is None:
        return []
    return ["cuda"] + (["cpu"] if os.environ.get("TRITON_INTERPRET") == "1" else [])


def _dense(*tensors):
    return [x.contiguous() for x in tensors]


def _dense_or_none(x):
    return None if x is None else x.contiguous()


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------

def _compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                          compress_block_size, compress_stride, scale, check_values=True):
    check.check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                     compress_block_size, compress_stride, scale,
                                     check_values=check_values)
    args = (cu_seqlens_q, cu_seqlens_k, seqlen_k)
    if q.dtype == torch.float64:
        return reference.compressed_attention(q, k_cmp, v_cmp, *args, compress_block_size,
                                              compress_stride, scale)
    return range_attention.range_attention_forward(
        *_dense(q, k_cmp, v_cmp), *args, MODE_COMPRESSED, 0, compress_block_size,
        compress_stride, scale)


def _window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale, check_values=True):
    check.check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale,
                                 check_values=check_values)
    if q.dtype == torch.float64:
        return reference.window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale)
    return range_attention.range_attention_forward(
        *_dense(q, k, v), cu_seqlens_q, cu_seqlens_k, k.shape[1], MODE_WINDOW, window_size, 1, 1,
        scale)


def _selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k, select_block_size, scale,
                        check_values=True, deterministic=True):
    check.check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                   select_block_size, scale, check_values=check_values)
    if q.dtype == torch.float64:
        return reference.selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                            select_block_size, scale)
    return selected_attention.selected_attention_forward(
        *_dense(q, k, v, indices), cu_seqlens_q, cu_seqlens_k, select_block_size, scale)


def _select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
                   compress_stride, select_block_size, num_selected_blocks, num_init_blocks,
                   num_local_blocks, scale, check_values=True):
    args = (q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
            compress_stride, select_block_size, num_selected_blocks, num_init_blocks,
            num_local_blocks, scale)
    check.check_select_blocks(*args, check_values=check_values)
    if q.dtype == torch.float64:
        return reference.select_blocks(*args)
    return select_blocks.select_blocks_forward(*_dense(q, k_cmp, lse), *args[3:])


def _gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    check.check_gates("gated_combine", o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    if o_cmp.dtype == torch.float64:
        return reference.gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return gated_combine.gated_combine_forward(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)


# ---------------------------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------------------------

def _compressed_attention_backward(do, q, k_cmp, v_cmp, o, lse, cu_seqlens_q, cu_seqlens_k,
                                   seqlen_k, compress_block_size, compress_stride, scale,
                                   check_values=True, dq_accumulate=None):
    op = "compressed_attention_backward"
    check.check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                     compress_block_size, compress_stride, scale, op=op,
                                     check_values=check_values)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    if q.dtype == torch.float64:
        return reference.accumulate_dq(reference.compressed_attention_backward(
            do, q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
            compress_stride, scale), dq_accumulate)
    return range_attention.range_attention_backward(
        *_dense(do, q, k_cmp, v_cmp, o, lse), cu_seqlens_q, cu_seqlens_k, seqlen_k,
        MODE_COMPRESSED, 0, compress_block_size, compress_stride, scale,
        dq_accumulate=_dense_or_none(dq_accumulate))


def _window_attention_backward(do, q, k, v, o, lse, cu_seqlens_q, cu_seqlens_k, window_size,
                               scale, check_values=True, dq_accumulate=None):
    op = "window_attention_backward"
    check.check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale, op=op,
                                 check_values=check_values)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    if q.dtype == torch.float64:
        return reference.accumulate_dq(reference.window_attention_backward(
            do, q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale), dq_accumulate)
    return range_attention.range_attention_backward(
        *_dense(do, q, k, v, o, lse), cu_seqlens_q, cu_seqlens_k, k.shape[1], MODE_WINDOW,
        window_size, 1, 1, scale, dq_accumulate=_dense_or_none(dq_accumulate))


def _selected_attention_backward(do, q, k, v, indices, o, lse, cu_seqlens_q, cu_seqlens_k,
                                 select_block_size, scale, check_values=True, deterministic=True,
                                 dq_accumulate=None):
    op = "selected_attention_backward"
    check.check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                   select_block_size, scale, op=op, check_values=check_values)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    if q.dtype == torch.float64:
        return reference.accumulate_dq(reference.selected_attention_backward(
            do, q, k, v, indices, cu_seqlens_q, cu_seqlens_k, select_block_size, scale),
            dq_accumulate)
    return selected_attention.selected_attention_backward(
        *_dense(do, q, k, v, indices, o, lse), cu_seqlens_q, cu_seqlens_k, select_block_size,
        scale, deterministic=deterministic, dq_accumulate=_dense_or_none(dq_accumulate))


def _gated_combine_backward(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    check.check_gates("gated_combine_backward", o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa, do)
    if o_cmp.dtype == torch.float64:
        return reference.gated_combine_backward(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return gated_combine.gated_combine_backward(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)


LAUNCHERS = {
    "fsa::compressed_attention": _compressed_attention,
    "fsa::window_attention": _window_attention,
    "fsa::selected_attention": _selected_attention,
    "fsa::select_blocks": _select_blocks,
    "fsa::gated_combine": _gated_combine,
    "fsa::compressed_attention_backward": _compressed_attention_backward,
    "fsa::window_attention_backward": _window_attention_backward,
    "fsa::selected_attention_backward": _selected_attention_backward,
    "fsa::gated_combine_backward": _gated_combine_backward,
}


def register():
    """Point every op at its Triton launcher on every device that runs Triton."""
    for device in _devices():
        for op, launcher in LAUNCHERS.items():
            torch.library.register_kernel(op, device)(launcher)
        _REGISTERED.add(device)
