"""Argument checks shared by every op's kernels and fake impls (SPEC §4).

Each check raises ValueError (TypeError for a wrong type) naming the op, the argument, the
value and what was expected. The fake impls call the same functions, so a compiled graph
reports the same message as eager mode (Dynamo wraps it in its own exception under
`fullgraph=True`). Conditions over sizes go through `torch._check_with`: a symbolic size is
decided by a guard, or by a runtime assert where it is only known at run time, and messages
print sizes as numbers, never as symbols.

Checks here read shapes, dtypes and devices only. `check_cu_seqlens_values` and
`check_indices_values` read data (one host sync on a GPU); the ops run them when called with
`check_values=True`, their default.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

FLOAT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


def _concrete(value):
    """value with every symbolic number replaced by its value (the guard this adds is harmless:
    we are failing)."""
    kinds = ((torch.SymInt, int), (torch.SymFloat, float), (torch.SymBool, bool))
    for symbolic, plain in kinds:
        if isinstance(value, symbolic):
            try:
                return plain(value)
            except Exception:                   # only known at run time: print the symbol
                return str(value)
    if isinstance(value, (tuple, list, torch.Size)):
        return tuple(_concrete(v) for v in value)
    return value


def _name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def fail(op: str, arg: str, got, expected: str, exc=ValueError):
    raise exc(f"fsa.{op}: {arg} {expected}, got {_concrete(got)}")


def require(cond, op: str, arg: str, got, expected, exc=ValueError):
    """Raise `exc` with fail's message unless `cond`; `got` and `expected` may be callables
    (evaluated only on failure). A SymBool is decided as `torch._check` decides it."""
    if cond is True:            # a plain bool that holds: the common case, and no call at all
        return
    def message():
        g = got() if callable(got) else got
        e = expected() if callable(expected) else expected
        return f"fsa.{op}: {arg} {e}, got {_concrete(g)}"
    torch._check_with(exc, cond, message)


def _dims(shape) -> tuple:
    return _concrete(tuple(shape))


def _check_tensor(op: str, name: str, x, rank: int, dtypes=FLOAT_DTYPES):
    if not isinstance(x, Tensor):
        fail(op, name, type(x).__name__, "must be a torch.Tensor", TypeError)
    if x.dim() != rank:
        fail(op, name, f"shape {_dims(x.shape)}", f"must have {rank} dimensions")
    if x.dtype not in dtypes:
        names = ", ".join(_name(d) for d in dtypes)
        fail(op, name, _name(x.dtype), f"must have dtype in ({names})", TypeError)
    # A size-1 last dimension has no stride to speak of; anything else must be dense in it.
    require((x.numel() == 0) | (x.shape[-1] == 1) | (x.stride(-1) == 1), op, name,
            lambda: f"stride {_dims(x.stride())}", "must be contiguous in its last dimension")


def _check_same(op: str, ref_name: str, ref: Tensor, name: str, x: Tensor):
    if x.device != ref.device:
        fail(op, name, f"device {x.device}", f"must be on {ref_name}'s device {ref.device}")
    if x.dtype != ref.dtype:
        fail(op, name, _name(x.dtype), f"must have {ref_name}'s dtype {_name(ref.dtype)}", TypeError)


def check_attention_inputs(op: str, q: Tensor, k: Tensor, v: Tensor, k_name="k", v_name="v"):
    """q [B, Tq, Hq, D], k and v [B, Tk, Hkv, D], Hq a multiple of Hkv, D in 16..256 step 16."""
    _check_tensor(op, "q", q, 4)
    _check_tensor(op, k_name, k, 4)
    _check_tensor(op, v_name, v, 4)
    _check_same(op, "q", q, k_name, k)
    _check_same(op, "q", q, v_name, v)
    head_dim = q.shape[3]
    require((head_dim >= 16) & (head_dim <= 256) & (head_dim % 16 == 0), op, "q",
            lambda: f"head dim {_concrete(head_dim)}",
            "must have a head dim that is a multiple of 16 in [16, 256]")
    for dim in range(4):
        require(v.shape[dim] == k.shape[dim], op, v_name, lambda: f"shape {_dims(v.shape)}",
                lambda: f"must match {k_name}'s shape {_dims(k.shape)}")
    require(k.shape[0] == q.shape[0], op, k_name, lambda: f"batch {_concrete(k.shape[0])}",
            lambda: f"must match q's batch {_concrete(q.shape[0])}")
    require(k.shape[3] == q.shape[3], op, k_name, lambda: f"head dim {_concrete(k.shape[3])}",
            lambda: f"must match q's head dim {_concrete(q.shape[3])}")
    require((k.shape[2] >= 1) & (q.shape[2] % torch.sym_max(k.shape[2], 1) == 0), op, "q",
            lambda: f"{_concrete(q.shape[2])} heads and {_concrete(k.shape[2])} kv heads",
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
            fail(op, name, _name(cu.dtype), "must have dtype int32", TypeError)
        if cu.dim() != 1:
            fail(op, name, f"shape {_dims(cu.shape)}", "must be 1-D with at least one entry")
        require(cu.shape[0] >= 1, op, name, lambda: f"shape {_dims(cu.shape)}",
                "must be 1-D with at least one entry")
        if cu.device != q.device:
            fail(op, name, f"device {cu.device}", f"must be on q's device {q.device}")
    require(cu_seqlens_q.shape[0] == cu_seqlens_k.shape[0], op, "cu_seqlens_k",
            lambda: f"{_concrete(cu_seqlens_k.shape[0])} entries",
            lambda: f"must have as many entries as cu_seqlens_q ({_concrete(cu_seqlens_q.shape[0])})")
    require(q.shape[0] == 1, op, "q", lambda: f"batch {_concrete(q.shape[0])}",
            "must have batch 1 when cu_seqlens are given")


def check_cu_seqlens_values(op: str, cu_seqlens_q: Tensor, cu_seqlens_k: Tensor,
                            total_q: int, total_k: int):
    """Offsets start at 0, never decrease, end at the token count; no sequence has more
    queries than keys. Reads the values (a host sync on a GPU)."""
    cq, ck = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    for name, cu, total in (("cu_seqlens_q", cq, total_q), ("cu_seqlens_k", ck, total_k)):
        if cu[0] != 0:
            fail(op, name, cu[0], "must start at 0")
        for i in range(1, len(cu)):
            if cu[i] < cu[i - 1]:
                fail(op, name, f"{cu[i]} after {cu[i - 1]} at entry {i}", "must be non-decreasing")
        if cu[-1] != total:
            fail(op, name, f"last offset {cu[-1]}", f"must end at the token count {_concrete(total)}")
    for s in range(len(cq) - 1):
        if cq[s + 1] - cq[s] > ck[s + 1] - ck[s]:
            fail(op, "cu_seqlens_q", f"sequence {s} with {cq[s + 1] - cq[s]} queries",
                 f"must not have more queries than keys ({ck[s + 1] - ck[s]})")


def check_query_length(op: str, q: Tensor, seqlen_k, cu_seqlens_q):
    if cu_seqlens_q is None:
        require(q.shape[1] <= seqlen_k, op, "q", lambda: f"length {_concrete(q.shape[1])}",
                lambda: f"must not exceed the key length {_concrete(seqlen_k)}")


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
    return torch.sym_max((seqlen_k - compress_block_size) // compress_stride + 1, 0)


def check_compressed_keys(op: str, q: Tensor, k_cmp: Tensor, v_cmp: Tensor, cu_seqlens_q,
                          cu_seqlens_k, seqlen_k, compress_block_size: int, compress_stride: int):
    check_attention_inputs(op, q, k_cmp, v_cmp, "k_cmp", "v_cmp")
    check_cu_seqlens(op, q, cu_seqlens_q, cu_seqlens_k)
    check_compression(op, compress_block_size, compress_stride)
    require(seqlen_k >= 0, op, "seqlen_k", seqlen_k, "must be >= 0")
    check_query_length(op, q, seqlen_k, cu_seqlens_q)
    packed = cu_seqlens_k is not None
    rows = expected_compressed_rows(seqlen_k, compress_block_size, compress_stride, packed)
    layout = ("seqlen_k // compress_stride = {} (packed layout)" if packed
              else "(seqlen_k - compress_block_size) // compress_stride + 1 = {}")
    require(k_cmp.shape[1] == rows, op, "k_cmp",
            lambda: f"{_concrete(k_cmp.shape[1])} rows (seqlen_k={_concrete(seqlen_k)})",
            lambda: f"must have {layout.format(_concrete(rows))} rows")


def check_scale(op: str, scale: float):
    if not (scale > 0 and scale < float("inf")):
        fail(op, "scale", scale, "must be a positive finite number")


def check_indices(op: str, q: Tensor, k: Tensor, indices: Tensor, select_block_size: int):
    if not isinstance(indices, Tensor):
        fail(op, "indices", type(indices).__name__, "must be a torch.Tensor", TypeError)
    if indices.dtype != torch.int32:
        fail(op, "indices", _name(indices.dtype), "must have dtype int32", TypeError)
    expected = (q.shape[0], q.shape[1], k.shape[2])
    shape_ok = indices.dim() == 4
    if shape_ok:
        shape_ok = ((indices.shape[0] == expected[0]) & (indices.shape[1] == expected[1])
                    & (indices.shape[2] == expected[2]) & (indices.shape[3] >= 1))
    require(shape_ok, op, "indices", lambda: f"shape {_dims(indices.shape)}",
            lambda: "must have shape [B, Tq, Hkv, n] = [{}, {}, {}, n>=1]".format(*_dims(expected)))
    if indices.device != q.device:
        fail(op, "indices", f"device {indices.device}", f"must be on q's device {q.device}")
    if select_block_size < 1:
        fail(op, "select_block_size", select_block_size, "must be >= 1")


def check_indices_values(op: str, indices: Tensor, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                         select_block_size: int):
    """Every entry is -1 or a block of its row's sequence, [0, ceil(len_k / select_block_size)).
    Reads the values (one host sync on a GPU); call after the cu_seqlens checks."""
    if indices.numel() == 0:
        return
    if cu_seqlens_k is None:
        limit = torch.full((1, 1, 1, 1), -(-seqlen_k // select_block_size), device=indices.device)
    else:
        cu_q, cu_k = cu_seqlens_q.long(), cu_seqlens_k.long()
        blocks = (cu_k[1:] - cu_k[:-1] + select_block_size - 1) // select_block_size
        rows = torch.arange(indices.shape[1], device=indices.device)
        seq = torch.searchsorted(cu_q[1:].contiguous(), rows, right=True)
        limit = blocks[seq.clamp(max=blocks.shape[0] - 1)][None, :, None, None]
    bad = (indices < -1) | (indices >= limit)
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        value, bound = int(indices[where]), int(limit.expand_as(indices)[where])
        fail(op, "indices", f"{value} at {list(where)}",
             f"must be -1 or a block of the row's sequence, in [-1, {bound})")


def check_window(op: str, window_size: int):
    if window_size < 1:
        fail(op, "window_size", window_size, "must be >= 1")


def check_gates(op: str, o_cmp: Tensor, o_slc: Tensor, o_swa: Tensor, g_cmp: Tensor,
                g_slc: Tensor, g_swa: Tensor, do=None):
    """Branch outputs [B, T, Hq, D] alike (and the backward's do); gates [B, T, Hq] with their
    dtype and device."""
    _check_tensor(op, "o_cmp", o_cmp, 4)
    outputs = (("o_slc", o_slc), ("o_swa", o_swa)) + ((("do", do),) if do is not None else ())
    for name, o in outputs:
        _check_tensor(op, name, o, 4)
        _check_same(op, "o_cmp", o_cmp, name, o)
        for dim in range(4):
            require(o.shape[dim] == o_cmp.shape[dim], op, name, lambda: f"shape {_dims(o.shape)}",
                    lambda: f"must match o_cmp's shape {_dims(o_cmp.shape)}")
    for name, g in (("g_cmp", g_cmp), ("g_slc", g_slc), ("g_swa", g_swa)):
        _check_tensor(op, name, g, 3)
        _check_same(op, "o_cmp", o_cmp, name, g)
        for dim in range(3):
            require(g.shape[dim] == o_cmp.shape[dim], op, name, lambda: f"shape {_dims(g.shape)}",
                    lambda: f"must have shape {_dims(o_cmp.shape[:3])}")


def trusted_offsets(cu_seqlens_q, cu_seqlens_k, total_q, total_k):
    """cu_seqlens [S+1] int32 -> offsets every implementation may trust without reading them on
    the host: in [0, total], non-decreasing, first 0, last total, at least two entries. The
    identity on valid offsets; on invalid ones (ops called with check_values=False) every row
    still lies inside one sequence, so no kernel reads or writes out of bounds. None stays None."""
    if cu_seqlens_q is None:
        return None, None

    def trust(cu, total):
        inner = torch.cummax(cu.clamp(0, total), 0).values[1:-1]
        return torch.cat([inner.new_zeros(1), inner, inner.new_full((1,), total)])
    return trust(cu_seqlens_q, total_q), trust(cu_seqlens_k, total_k)


# ---------------------------------------------------------------------------------------------
# One check per op: the reference kernels, the Triton launchers and the fake impls call these.
# `check_values` adds the checks that read data (the fake impls never ask for them).
# ---------------------------------------------------------------------------------------------

def check_packing_values(op: str, q: Tensor, seqlen_k, cu_seqlens_q, cu_seqlens_k, indices=None,
                         select_block_size=None):
    if cu_seqlens_q is not None:
        check_cu_seqlens_values(op, cu_seqlens_q, cu_seqlens_k, q.shape[1], seqlen_k)
    if indices is not None:
        check_indices_values(op, indices, cu_seqlens_q, cu_seqlens_k, seqlen_k, select_block_size)


def check_compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                               compress_block_size, compress_stride, scale,
                               op="compressed_attention", check_values=False):
    check_compressed_keys(op, q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                          compress_block_size, compress_stride)
    check_scale(op, scale)
    if check_values:
        check_packing_values(op, q, seqlen_k, cu_seqlens_q, cu_seqlens_k)


def check_select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
                        compress_stride, select_block_size, num_selected_blocks, num_init_blocks,
                        num_local_blocks, scale, op="select_blocks", check_values=False):
    check_compressed_keys(op, q, k_cmp, k_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                          compress_block_size, compress_stride)
    check_selection(op, compress_stride, select_block_size, num_selected_blocks,
                    num_init_blocks, num_local_blocks)
    check_lse(op, q, lse)
    check_scale(op, scale)
    if check_values:
        check_packing_values(op, q, seqlen_k, cu_seqlens_q, cu_seqlens_k)


def check_selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k, select_block_size,
                             scale, op="selected_attention", check_values=False):
    check_attention_inputs(op, q, k, v)
    check_cu_seqlens(op, q, cu_seqlens_q, cu_seqlens_k)
    check_query_length(op, q, k.shape[1], cu_seqlens_q)
    check_indices(op, q, k, indices, select_block_size)
    check_scale(op, scale)
    if check_values:
        check_packing_values(op, q, k.shape[1], cu_seqlens_q, cu_seqlens_k, indices,
                             select_block_size)


def check_window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale,
                           op="window_attention", check_values=False):
    check_attention_inputs(op, q, k, v)
    check_cu_seqlens(op, q, cu_seqlens_q, cu_seqlens_k)
    check_query_length(op, q, k.shape[1], cu_seqlens_q)
    check_window(op, window_size)
    check_scale(op, scale)
    if check_values:
        check_packing_values(op, q, k.shape[1], cu_seqlens_q, cu_seqlens_k)


def check_lse(op: str, q: Tensor, lse: Tensor):
    _check_tensor(op, "lse", lse, 3, (torch.float32, torch.float64))
    for dim in range(3):
        require(lse.shape[dim] == q.shape[dim], op, "lse", lambda: f"shape {_dims(lse.shape)}",
                lambda: f"must have shape {_dims(q.shape[:3])}")


def check_grad_output(op: str, do: Tensor, o: Tensor, lse: Tensor, q: Tensor,
                      dq_accumulate: Optional[Tensor] = None):
    """Backward ops: do and o (and dq_accumulate, where given) shaped and typed like q, lse like
    the forward's."""
    extra = () if dq_accumulate is None else (("dq_accumulate", dq_accumulate),)
    for name, x in (("do", do), ("o", o), *extra):
        _check_tensor(op, name, x, 4)
        _check_same(op, "q", q, name, x)
        for dim in range(4):
            require(x.shape[dim] == q.shape[dim], op, name, lambda: f"shape {_dims(x.shape)}",
                    lambda: f"must match q's shape {_dims(q.shape)}")
    check_lse(op, q, lse)
