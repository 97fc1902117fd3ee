"""The `torch.ops.fsa` op table (SPEC §3): read this file as the package's table of contents.

Every op is a `torch.library.custom_op` whose default kernel validates its arguments and runs
the pure-PyTorch oracle in `fsa_ops.reference`, on any device. Faster kernels are registered
per device elsewhere (`register_kernel`); fake impls live in the top-level `fake_impls`
package; autograd is wired at the bottom of this file, each forward op's gradient being a
backward op of its own so compiled backward graphs stay opaque and have fake impls too.

| op                            | returns                          | differentiable in    |
|-------------------------------|----------------------------------|----------------------|
| compressed_attention          | (o, lse)                         | q, k_cmp, v_cmp      |
| select_blocks                 | indices int32 [B, Tq, Hkv, n]    | —                    |
| selected_attention            | (o, lse)                         | q, k, v              |
| window_attention              | (o, lse)                         | q, k, v              |
| gated_combine                 | o                                | all six inputs       |
| *_backward                    | gradients of the inputs above    | —                    |

lse is float32 [B, Tq, Hq] (float64 for float64 inputs) and is not differentiable.
Every op is bitwise deterministic. `deterministic=False` (last argument of the selected ops,
kept by the forward for its backward) lets the CUDA selected backward add its gradients with
float32 atomics: less memory and one pass, with run-to-run differences in the last bits.
`seqlen_k` is the key length Tk that k_cmp was compressed from (the total when packed).

`check_values` (last argument of every op that takes `cu_seqlens` or `indices`): also check
their values (offsets start at 0, never decrease, end at the token count; every index is -1
or a block of its row's sequence). That reads data, one host sync on a GPU, so
`fsa_ops.nsa_attention` turns it off inside `torch.compile`d code and autograd passes False to
the backward ops. Unchecked values never make a kernel read or write out of bounds: an index
outside its sequence's blocks counts as -1, offsets are clamped into the tensor; the output
for such input is defined by that rule and is not an error report.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import reference
from . import validation as check

Tensors2 = tuple[Tensor, Tensor]
Tensors3 = tuple[Tensor, Tensor, Tensor]


# ---------------------------------------------------------------------------------------------
# Forward ops
# ---------------------------------------------------------------------------------------------

@torch.library.custom_op("fsa::compressed_attention", mutates_args=())
def compressed_attention(q: Tensor, k_cmp: Tensor, v_cmp: Tensor,
                         cu_seqlens_q: Optional[Tensor], cu_seqlens_k: Optional[Tensor],
                         seqlen_k: int, compress_block_size: int, compress_stride: int,
                         scale: float, check_values: bool = True) -> Tensors2:
    check.check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                     compress_block_size, compress_stride, scale,
                                     check_values=check_values)
    return reference.compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                          compress_block_size, compress_stride, scale)


@torch.library.custom_op("fsa::select_blocks", mutates_args=())
def select_blocks(q: Tensor, k_cmp: Tensor, lse: Tensor, cu_seqlens_q: Optional[Tensor],
                  cu_seqlens_k: Optional[Tensor], seqlen_k: int, compress_block_size: int,
                  compress_stride: int, select_block_size: int, num_selected_blocks: int,
                  num_init_blocks: int, num_local_blocks: int, scale: float,
                  check_values: bool = True) -> Tensor:
    check.check_select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                              compress_block_size, compress_stride, select_block_size,
                              num_selected_blocks, num_init_blocks, num_local_blocks, scale,
                              check_values=check_values)
    return reference.select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                   compress_block_size, compress_stride, select_block_size,
                                   num_selected_blocks, num_init_blocks, num_local_blocks, scale)


@torch.library.custom_op("fsa::selected_attention", mutates_args=())
def selected_attention(q: Tensor, k: Tensor, v: Tensor, indices: Tensor,
                       cu_seqlens_q: Optional[Tensor], cu_seqlens_k: Optional[Tensor],
                       select_block_size: int, scale: float,
                       check_values: bool = True, deterministic: bool = True) -> Tensors2:
    check.check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                   select_block_size, scale, check_values=check_values)
    return reference.selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                        select_block_size, scale)


@torch.library.custom_op("fsa::window_attention", mutates_args=())
def window_attention(q: Tensor, k: Tensor, v: Tensor, cu_seqlens_q: Optional[Tensor],
                     cu_seqlens_k: Optional[Tensor], window_size: int, scale: float,
                     check_values: bool = True) -> Tensors2:
    check.check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale,
                                 check_values=check_values)
    return reference.window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale)


@torch.library.custom_op("fsa::gated_combine", mutates_args=())
def gated_combine(o_cmp: Tensor, o_slc: Tensor, o_swa: Tensor, g_cmp: Tensor, g_slc: Tensor,
                  g_swa: Tensor) -> Tensor:
    check.check_gates("gated_combine", o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return reference.gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)


# ---------------------------------------------------------------------------------------------
# Backward ops (o and lse are passed for kernels that reuse them; the oracle recomputes).
# `dq_accumulate` (like q) of the attention backward ops: a gradient of q from elsewhere,
# returned added to this op's dq, so that a caller summing branches (nsa_attention) holds one
# dq buffer, not two, and needs no add of its own.
# ---------------------------------------------------------------------------------------------

@torch.library.custom_op("fsa::compressed_attention_backward", mutates_args=())
def compressed_attention_backward(do: Tensor, q: Tensor, k_cmp: Tensor, v_cmp: Tensor, o: Tensor,
                                  lse: Tensor, cu_seqlens_q: Optional[Tensor],
                                  cu_seqlens_k: Optional[Tensor], seqlen_k: int,
                                  compress_block_size: int, compress_stride: int,
                                  scale: float, check_values: bool = True,
                                  dq_accumulate: Optional[Tensor] = None) -> Tensors3:
    op = "compressed_attention_backward"
    check.check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                     compress_block_size, compress_stride, scale, op=op,
                                     check_values=check_values)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    grads = reference.compressed_attention_backward(do, q, k_cmp, v_cmp, cu_seqlens_q,
                                                    cu_seqlens_k, seqlen_k, compress_block_size,
                                                    compress_stride, scale)
    return reference.accumulate_dq(grads, dq_accumulate)


@torch.library.custom_op("fsa::selected_attention_backward", mutates_args=())
def selected_attention_backward(do: Tensor, q: Tensor, k: Tensor, v: Tensor, indices: Tensor,
                                o: Tensor, lse: Tensor, cu_seqlens_q: Optional[Tensor],
                                cu_seqlens_k: Optional[Tensor], select_block_size: int,
                                scale: float, check_values: bool = True,
                                deterministic: bool = True,
                                dq_accumulate: Optional[Tensor] = None) -> Tensors3:
    op = "selected_attention_backward"
    check.check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                   select_block_size, scale, op=op, check_values=check_values)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    grads = reference.selected_attention_backward(do, q, k, v, indices, cu_seqlens_q,
                                                  cu_seqlens_k, select_block_size, scale)
    return reference.accumulate_dq(grads, dq_accumulate)


@torch.library.custom_op("fsa::window_attention_backward", mutates_args=())
def window_attention_backward(do: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor,
                              cu_seqlens_q: Optional[Tensor], cu_seqlens_k: Optional[Tensor],
                              window_size: int, scale: float, check_values: bool = True,
                              dq_accumulate: Optional[Tensor] = None) -> Tensors3:
    op = "window_attention_backward"
    check.check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale, op=op,
                                 check_values=check_values)
    check.check_grad_output(op, do, o, lse, q, dq_accumulate)
    grads = reference.window_attention_backward(do, q, k, v, cu_seqlens_q, cu_seqlens_k,
                                                window_size, scale)
    return reference.accumulate_dq(grads, dq_accumulate)


@torch.library.custom_op("fsa::gated_combine_backward", mutates_args=())
def gated_combine_backward(do: Tensor, o_cmp: Tensor, o_slc: Tensor, o_swa: Tensor, g_cmp: Tensor,
                           g_slc: Tensor, g_swa: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor,
                                                                  Tensor, Tensor]:
    check.check_gates("gated_combine_backward", o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa, do)
    return reference.gated_combine_backward(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)


# ---------------------------------------------------------------------------------------------
# Autograd: each forward op's gradient is its backward op. Incoming gradients may be expanded
# (stride 0, e.g. from .sum()); kernels want them dense, so they are made contiguous here.
# ---------------------------------------------------------------------------------------------

def _save_attention(num_tensors: int, num_flags: int = 1):
    """setup_context saving the first `num_tensors` inputs (q, keys, values[, indices]) and both
    outputs, and keeping the non-tensor arguments for the backward op, whose schema ends in the
    same `num_flags` flags (check_values first)."""
    def setup_context(ctx, inputs, output):
        o, lse = output
        ctx.save_for_backward(*inputs[:num_tensors], o, lse)
        # The backward op trusts the values the forward checked (or was told not to check).
        ctx.arguments = (*inputs[num_tensors:-num_flags], False, *inputs[len(inputs) - num_flags + 1:])
        ctx.mark_non_differentiable(lse)
    return setup_context


# The attention grads also serve functional.nsa_attention's late nodes, which pass the dq of
# the branches before them as dq_accumulate (the kernels' launchers make it dense).
def _compressed_attention_grad(ctx, do, _dlse, dq_accumulate=None):
    q, k_cmp, v_cmp, o, lse = ctx.saved_tensors
    grads = torch.ops.fsa.compressed_attention_backward(
        do.contiguous(), q, k_cmp, v_cmp, o, lse, *ctx.arguments,
        dq_accumulate=dq_accumulate)
    return (*grads, None, None, None, None, None, None, None)


def _selected_attention_grad(ctx, do, _dlse, dq_accumulate=None):
    q, k, v, indices, o, lse = ctx.saved_tensors
    grads = torch.ops.fsa.selected_attention_backward(
        do.contiguous(), q, k, v, indices, o, lse, *ctx.arguments,
        dq_accumulate=dq_accumulate)
    return (*grads, None, None, None, None, None, None, None)


def _window_attention_grad(ctx, do, _dlse):
    q, k, v, o, lse = ctx.saved_tensors
    grads = torch.ops.fsa.window_attention_backward(
        do.contiguous(), q, k, v, o, lse, *ctx.arguments)
    return (*grads, None, None, None, None, None)


def _save_gated_combine(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _gated_combine_grad(ctx, do):
    return torch.ops.fsa.gated_combine_backward(do.contiguous(), *ctx.saved_tensors)


compressed_attention.register_autograd(_compressed_attention_grad, setup_context=_save_attention(3))
selected_attention.register_autograd(_selected_attention_grad,
                                     setup_context=_save_attention(4, num_flags=2))
window_attention.register_autograd(_window_attention_grad, setup_context=_save_attention(3))
gated_combine.register_autograd(_gated_combine_grad, setup_context=_save_gated_combine)
