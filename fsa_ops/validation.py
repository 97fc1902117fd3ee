"""Argument checks shared by every op's kernels and fake impls (SPEC §4).

Each check raises ValueError (TypeError for a wrong type) naming the op, the argument, the
value and what was expected. The fake impls call the same functions, so a compiled graph
reports the same message as eager mode. Checks here read shapes, dtypes and devices only;
`check_cu_seqlens_values` and `check_indices_values` read data and are called by kernels that
already hold the values on the host.
"""

from __future__ import annotations

import torch
from torch import Tensor

FLOAT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)
HEAD_DIMS = tuple(range(16, 257, 16))


def fail(op: str, arg: str, got, expected: str, exc=ValueError):
    raise exc(f"fsa.{op}: {arg} {expected}, got {got}")


def _check_tensor(op: str, name: str, x, rank: int, dtypes=FLOAT_DTYPES):
    if not isinstance(x, Tensor):
        fail(op, name, type(x).__name__, "must be a torch.Tensor", TypeError)
    if x.dim() != rank:
        fail(op, name, f"shape {tuple(x.shape)}", f"must have {rank} dimensions")
    if x.dtype not in dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        fail(op, name, str(x.dtype).replace("torch.", ""), f"must have dtype in ({names})", TypeError)
    if x.numel() > 0 and x.stride(-1) != 1:
        fail(op, name, f"stride {tuple(x.stride())}", "must be contiguous in its last dimension")


def _check_same(op: str, ref_name: str, ref: Tensor, name: str, x: Tensor):
    if x.device != ref.device:
        fail(op, name, f"device {x.device}", f"must be on {ref_name}'s device {ref.device}")
    if x.dtype != ref.dtype:
        fail(op, name, str(x.dtype).replace("torch.", ""),
             f"must have {ref_name}'s dtype {str(ref.dtype).replace('torch.', '')}", TypeError)


def check_attention_inputs(op: str, q: Tensor, k: Tensor, v: Tensor, k_name="k", v_name="v"):
    """q [B, Tq, Hq, D], k and v [B, Tk, Hkv, D], Hq a multiple of Hkv, D in 16..256 step 16."""
    _check_tensor(op, "q", q, 4)
    _check_tensor(op, k_name, k, 4)
    _check_tensor(op, v_name, v, 4)
    _check_same(op, "q", q, k_name, k)
    _check_same(op, "q", q, v_name, v)
    if k.shape != v.shape:
        fail(op, v_name, f"shape {tuple(v.shape)}", f"must match {k_name}'s shape {tuple(k.shape)}")
    if k.shape[0] != q.shape[0]:
        fail(op, k_name, f"batch {k.shape[0]}", f"must match q's batch {q.shape[0]}")
    if k.shape[3] != q.shape[3]:
        fail(op, k_name, f"head dim {k.shape[3]}", f"must match q's head dim {q.shape[3]}")
    if q.shape[3] not in HEAD_DIMS:
        fail(op, "q", f"head dim {q.shape[3]}", "must be a multiple of 16 in [16, 256]")
    if k.shape[2] < 1 or q.shape[2] % k.shape[2] != 0:
        fail(op, "q", f"{q.shape[2]} heads and {k.shape[2]} kv heads",
             "must have a number of heads that is a positive multiple of the kv heads")


def check_cu_seqlens(op: str, q: Tensor, cu_seqlens_q, cu_seqlens_k):
    """Both or neither; int32, 1-D, on q's device, same length; then B must be 1."""
    if (cu_seqlens_q is None) != (cu_seqlens_k is None):
        fail(op, "cu_seqlens_k" if cu_seqlens_k is None else "cu_seqlens_q", None,
             "must be given together with the other of cu_seqlens_q / cu_seqlens_k")
    if cu_seqlens_q is None:
        return
    for name, cu in (("cu_seqlens_q", cu_seqlens_q), ("cu_seqlens_k", cu_seqlens_k)):
        if not isinstance(cu, Tensor):
            fail(op, name, type(cu).__name__, "must be a torch.Tensor", TypeError)
        if cu.dtype != torch.int32:
            fail(op, name, str(cu.dtype).replace("torch.", ""), "must have dtype int32", TypeError)
        if cu.dim() != 1 or cu.shape[0] < 1:
            fail(op, name, f"shape {tuple(cu.shape)}", "must be 1-D with at least one entry")
        if cu.device != q.device:
            fail(op, name, f"device {cu.device}", f"must be on q's device {q.device}")
    if cu_seqlens_q.shape[0] != cu_seqlens_k.shape[0]:
        fail(op, "cu_seqlens_k", f"{cu_seqlens_k.shape[0]} entries",
             f"must have as many entries as cu_seqlens_q ({cu_seqlens_q.shape[0]})")
    if q.shape[0] != 1:
        fail(op, "q", f"batch {q.shape[0]}", "must have batch 1 when cu_seqlens are given")


def check_cu_seqlens_values(op: str, cu_seqlens_q: Tensor, cu_seqlens_k: Tensor,
                            total_q: int, total_k: int):
    """Offsets start at 0, never decrease, end at the token count; no sequence has more
    queries than keys. Reads the values: call where they are already on the host."""
    cq, ck = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    for name, cu, total in (("cu_seqlens_q", cq, total_q), ("cu_seqlens_k", ck, total_k)):
        if cu[0] != 0:
            fail(op, name, cu[0], "must start at 0")
        if any(b < a for a, b in zip(cu, cu[1:])):
            fail(op, name, cu, "must be non-decreasing")
        if cu[-1] != total:
            fail(op, name, f"last offset {cu[-1]}", f"must end at the token count {total}")
    for s in range(len(cq) - 1):
        if cq[s + 1] - cq[s] > ck[s + 1] - ck[s]:
            fail(op, "cu_seqlens_q", f"sequence {s} with {cq[s + 1] - cq[s]} queries",
                 f"must not have more queries than keys ({ck[s + 1] - ck[s]})")


def check_query_length(op: str, q: Tensor, seqlen_k, cu_seqlens_q):
    if cu_seqlens_q is None and q.shape[1] > seqlen_k:
        fail(op, "q", f"length {q.shape[1]}", f"must not exceed the key length {seqlen_k}")


def check_compression(op: str, compress_block_size: int, compress_stride: int):
    if compress_stride < 1:
        fail(op, "compress_stride", compress_stride, "must be >= 1")
    if compress_block_size < 1 or compress_block_size % compress_stride != 0:
        fail(op, "compress_block_size", compress_block_size,
             f"must be a positive multiple of compress_stride ({compress_stride})")


def check_selection(op: str, compress_stride: int, select_block_size: int,
                    num_selected_blocks: int, num_init_blocks: int, num_local_blocks: int):
    if select_block_size < compress_stride or select_block_size % compress_stride != 0:
        fail(op, "select_block_size", select_block_size,
             f"must be a multiple of compress_stride ({compress_stride})")
    if num_init_blocks < 0:
        fail(op, "num_init_blocks", num_init_blocks, "must be >= 0")
    if num_local_blocks < 0:
        fail(op, "num_local_blocks", num_local_blocks, "must be >= 0")
    if num_selected_blocks < max(1, num_init_blocks + num_local_blocks):
        fail(op, "num_selected_blocks", num_selected_blocks,
             f"must be >= 1 and >= num_init_blocks + num_local_blocks "
             f"({num_init_blocks + num_local_blocks})")


def expected_compressed_rows(seqlen_k, compress_block_size: int, compress_stride: int, packed: bool):
    """Rows of k_cmp: Tc of the whole sequence, or Tk // stride for the packed layout."""
    if packed:
        return seqlen_k // compress_stride
    return max((seqlen_k - compress_block_size) // compress_stride + 1, 0)


def check_compressed_keys(op: str, q: Tensor, k_cmp: Tensor, v_cmp: Tensor, cu_seqlens_q,
                          cu_seqlens_k, seqlen_k, compress_block_size: int, compress_stride: int):
    check_attention_inputs(op, q, k_cmp, v_cmp, "k_cmp", "v_cmp")
    check_cu_seqlens(op, q, cu_seqlens_q, cu_seqlens_k)
    check_compression(op, compress_block_size, compress_stride)
    check_query_length(op, q, seqlen_k, cu_seqlens_q)
    rows = expected_compressed_rows(seqlen_k, compress_block_size, compress_stride,
                                    cu_seqlens_k is not None)
    if k_cmp.shape[1] != rows:
        layout = (f"seqlen_k // compress_stride = {rows} (packed layout)" if cu_seqlens_k is not None
                  else f"(seqlen_k - compress_block_size) // compress_stride + 1 = {rows}")
        fail(op, "k_cmp", f"{k_cmp.shape[1]} rows (seqlen_k={seqlen_k})", f"must have {layout} rows")


def check_scale(op: str, scale: float):
    if not (scale > 0 and scale < float("inf")):
        fail(op, "scale", scale, "must be a positive finite number")


def check_indices(op: str, q: Tensor, k: Tensor, indices: Tensor, select_block_size: int):
    if not isinstance(indices, Tensor):
        fail(op, "indices", type(indices).__name__, "must be a torch.Tensor", TypeError)
    if indices.dtype != torch.int32:
        fail(op, "indices", str(indices.dtype).replace("torch.", ""), "must have dtype int32", TypeError)
    expected = (q.shape[0], q.shape[1], k.shape[2])
    if indices.dim() != 4 or tuple(indices.shape[:3]) != expected or indices.shape[3] < 1:
        fail(op, "indices", f"shape {tuple(indices.shape)}",
             f"must have shape [B, Tq, Hkv, n] = [{expected[0]}, {expected[1]}, {expected[2]}, n>=1]")
    if indices.device != q.device:
        fail(op, "indices", f"device {indices.device}", f"must be on q's device {q.device}")
    if select_block_size < 1:
        fail(op, "select_block_size", select_block_size, "must be >= 1")


def check_indices_values(op: str, indices: Tensor, seqlen_k: int, select_block_size: int):
    """Every entry in [-1, ceil(seqlen_k / select_block_size)). Reads the values."""
    if indices.numel() == 0:
        return
    limit = -(-seqlen_k // select_block_size)
    lo, hi = int(indices.min()), int(indices.max())
    if lo < -1 or hi >= limit:
        fail(op, "indices", f"values in [{lo}, {hi}]", f"must lie in [-1, {limit})")


def check_window(op: str, window_size: int):
    if window_size < 1:
        fail(op, "window_size", window_size, "must be >= 1")


def check_gates(op: str, o_cmp: Tensor, o_slc: Tensor, o_swa: Tensor, g_cmp: Tensor,
                g_slc: Tensor, g_swa: Tensor):
    """Branch outputs [B, T, Hq, D] alike; gates [B, T, Hq] with their dtype and device."""
    _check_tensor(op, "o_cmp", o_cmp, 4)
    for name, o in (("o_slc", o_slc), ("o_swa", o_swa)):
        _check_tensor(op, name, o, 4)
        _check_same(op, "o_cmp", o_cmp, name, o)
        if o.shape != o_cmp.shape:
            fail(op, name, f"shape {tuple(o.shape)}", f"must match o_cmp's shape {tuple(o_cmp.shape)}")
    for name, g in (("g_cmp", g_cmp), ("g_slc", g_slc), ("g_swa", g_swa)):
        _check_tensor(op, name, g, 3)
        _check_same(op, "o_cmp", o_cmp, name, g)
        if g.shape != o_cmp.shape[:3]:
            fail(op, name, f"shape {tuple(g.shape)}", f"must have shape {tuple(o_cmp.shape[:3])}")


# ---------------------------------------------------------------------------------------------
# One check per op: the kernels and the fake impls both call these.
# ---------------------------------------------------------------------------------------------

def check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                               compress_block_size, compress_stride, scale,
                               op="compressed_attention"):
    check_compressed_keys(op, q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                          compress_block_size, compress_stride)
    check_scale(op, scale)


def check_select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
                        compress_stride, select_block_size, num_selected_blocks, num_init_blocks,
                        num_local_blocks, scale, op="select_blocks"):
    check_compressed_keys(op, q, k_cmp, k_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                          compress_block_size, compress_stride)
    check_selection(op, compress_stride, select_block_size, num_selected_blocks,
                    num_init_blocks, num_local_blocks)
    check_lse(op, q, lse)
    check_scale(op, scale)


def check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k, select_block_size,
                             scale, op="selected_attention"):
    check_attention_inputs(op, q, k, v)
    check_cu_seqlens(op, q, cu_seqlens_q, cu_seqlens_k)
    check_query_length(op, q, k.shape[1], cu_seqlens_q)
    check_indices(op, q, k, indices, select_block_size)
    check_scale(op, scale)


def check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale,
                           op="window_attention"):
    check_attention_inputs(op, q, k, v)
    check_cu_seqlens(op, q, cu_seqlens_q, cu_seqlens_k)
    check_query_length(op, q, k.shape[1], cu_seqlens_q)
    check_window(op, window_size)
    check_scale(op, scale)


def check_lse(op: str, q: Tensor, lse: Tensor):
    _check_tensor(op, "lse", lse, 3, (torch.float32, torch.float64))
    if tuple(lse.shape) != tuple(q.shape[:3]):
        fail(op, "lse", f"shape {tuple(lse.shape)}", f"must have shape {tuple(q.shape[:3])}")


def check_grad_output(op: str, do: Tensor, o: Tensor, lse: Tensor, q: Tensor):
    """Backward ops: do and o shaped and typed like q, lse like the forward's."""
    for name, x in (("do", do), ("o", o)):
        _check_tensor(op, name, x, 4)
        _check_same(op, "q", q, name, x)
        if x.shape != q.shape:
            fail(op, name, f"shape {tuple(x.shape)}", f"must match q's shape {tuple(q.shape)}")
    check_lse(op, q, lse)
