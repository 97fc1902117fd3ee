"""Flash-style forward for the branches where each query reads one contiguous range of keys:
the sliding window (keys t - w < u <= t) and the compressed keys (i * stride + block - 1 <= t).

GQA packing: a program owns one kv head and BLOCK_T consecutive query tokens, and stacks all
G query heads of those tokens into the rows of one [BLOCK_T * GP, D] tile (GP = G rounded up
to a power of two), so every K/V tile it loads feeds G heads at once and small groups still
fill the matrix units.

Packed sequences: every query row looks up its own sequence (row_seq), so a tile may straddle
a sequence boundary; the key loop covers the union of its rows' ranges and the mask keeps each
row inside its own sequence. Batched input is the one-sequence case with a batch grid axis.

Backward (FlashAttention-2's split, no atomics, so gradients are bitwise reproducible):
`_range_attention_bwd_dkdv` owns a tile of keys and walks the query tokens that can see them,
accumulating dK and dV for all G heads at once (for compressed keys, which long stretches of
queries see, the tokens are cut into spans, one program each, and the float32 partials are
summed in span order); `_range_attention_bwd_dq` owns a query tile
like the forward and walks its keys. delta = rowsum(dO * O) is computed once beforehand.

Masks are paid only where they matter: every loop over tiles (keys in the forward and dQ,
query tokens in dK/dV) runs in three parts, masked tiles where the program's rows start at
different places, tiles that every row sees whole (no mask and no per-row range arithmetic:
for the window 7 of a tile's 9 key steps, for compressed keys all but the last), and masked
tiles where the rows end. Range arithmetic is int32 (positions); offsets are int64.
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from .common import (MODE_COMPRESSED, MODE_WINDOW, attention_grads, block_sizes, dot, dot_modes,
                     full_span, gqa_tile, load_backward_rows, row_dot, sequence_tables)

LOG2E = 1.4426950408889634
LN2 = tl.constexpr(0.6931471805599453)   # kernels read it: must be a constexpr


@triton.jit
def _visible_keys(token, row_ok, ROW_SEQ, CU_Q, CU_K, num_queries, window_size, cmp_block,
                  cmp_stride, MODE: tl.constexpr):
    """The key rows each query row may read, [first, first + count) (count 0 for rows that are
    not row_ok), int32. Window: the w keys ending at the query's position; compressed: every
    key i * stride + block - 1 <= position of its sequence's compressed rows."""
    seq = tl.load(ROW_SEQ + token, mask=token < num_queries, other=0)
    q_start = tl.load(CU_Q + seq)
    q_len = tl.load(CU_Q + seq + 1) - q_start
    k_start = tl.load(CU_K + seq)
    k_len = tl.load(CU_K + seq + 1) - k_start
    pos = (k_len - q_len + (token - q_start)).to(tl.int32)   # position inside its sequence
    if MODE == 0:                                        # MODE_WINDOW
        first = k_start + tl.maximum(pos - window_size + 1, 0)
        count = pos + 1 - tl.maximum(pos - window_size + 1, 0)
    else:
        first = k_start // cmp_stride
        count = tl.where(pos >= cmp_block - 1, (pos - cmp_block + 1) // cmp_stride + 1, 0)
    return first.to(tl.int32), tl.where(row_ok, count, 0).to(tl.int32)


@triton.jit
def _query_tile_keys(first, count, row_ok, num_key_rows, BLOCK_N: tl.constexpr):
    """A query tile's key loop: [lo, hi) covers every row's visible keys, and the tiles in
    [full_lo, full_hi) are visible to all its rows (see common.full_span)."""
    lo = tl.min(tl.where(count > 0, first, num_key_rows), 0)
    hi = tl.max(tl.where(count > 0, first + count, 0), 0)
    all_lo = tl.max(tl.where(row_ok, first, 0), 0)
    all_hi = tl.min(tl.where(row_ok, first + count, num_key_rows), 0)
    full_lo, full_hi = full_span(lo, hi, all_lo, all_hi, BLOCK_N)
    return lo, hi, full_lo, full_hi


@triton.jit
def _fwd_key_tiles(acc, m_i, l_i, q, K, V, kv_base, stride_kt, key_lo, key_hi, hi, first, count,
                   d, d_ok, scale_log2, MASKED: tl.constexpr, BLOCK_N: tl.constexpr,
                   UPCAST: tl.constexpr, IEEE: tl.constexpr):
    """Online softmax of q [M, D] over the key tiles key_lo, key_lo + BLOCK_N, ... < key_hi.
    MASKED: each row keeps only its keys [first, first + count) and loads stop at hi;
    otherwise every key of every tile is visible to every row (the caller checked).
    m_i is the running max of the raw scores q.k; exponents are (s - m) * scale_log2, not
    s * scale_log2 - m: the compiler fuses the latter into one FMA whose unrounded product
    can exceed the rounded max by float32's spacing of the scores (about 1e4 at 1e11, float16
    q and k near their max), and exp2 overflows. A difference of rounded values is <= 0."""
    for start in range(key_lo, key_hi, BLOCK_N):
        u = start + tl.arange(0, BLOCK_N)
        kv_offsets = kv_base + u[:, None].to(tl.int64) * stride_kt + d[None, :]
        if MASKED:
            kv_mask = (u < hi)[:, None] & d_ok[None, :]
        else:
            kv_mask = d_ok[None, :]
        k = tl.load(K + kv_offsets, mask=kv_mask, other=0.0)
        s = dot(q, tl.trans(k), UPCAST, IEEE)
        if MASKED:
            rel = u[None, :] - first[:, None]
            s = tl.where((rel >= 0) & (rel < count[:, None]), s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)   # rows that saw nothing yet
        alpha = tl.exp2((m_i - m_use) * scale_log2)
        p = tl.exp2((s - m_use[:, None]) * scale_log2)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + kv_offsets, mask=kv_mask, other=0.0)
        acc = acc * alpha[:, None] + dot(p.to(v.dtype), v, UPCAST, IEEE)
        m_i = m_new
    return acc, m_i, l_i


@triton.jit
def _range_attention_fwd(
    Q, K, V, O, LSE, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_ob, stride_ot, stride_oh,
    stride_lb, stride_lt,
    num_queries, num_key_rows, num_kv_heads, scale_log2,
    window_size, cmp_block, cmp_stride,
    MODE: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):
    """Q [B, Tq, Hq, D], K/V [B, rows, Hkv, D] (keys, or compressed keys), O like Q,
    LSE [B, Tq, Hq] float32 (natural log). Grid: (cdiv(Tq, BLOCK_T), B * Hkv).
    The key loop runs in three parts: masked tiles where the tile's rows start at different
    keys, unmasked tiles that every row sees whole, masked tiles where the rows end."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    batch, kv_head, token, head, row_ok = gqa_tile(num_queries, num_kv_heads, G, GP, BLOCK_T, GP)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM

    first, count = _visible_keys(token, row_ok, ROW_SEQ, CU_Q, CU_K, num_queries, window_size,
                                 cmp_block, cmp_stride, MODE)
    lo, hi, full_lo, full_hi = _query_tile_keys(first, count, row_ok, num_key_rows, BLOCK_N)

    q_ptrs = Q + batch * stride_qb + token[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :]
    q = tl.load(q_ptrs, mask=row_ok[:, None] & d_ok[None, :], other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    kv_base = batch * stride_kb + kv_head * stride_kh
    acc, m_i, l_i = _fwd_key_tiles(acc, m_i, l_i, q, K, V, kv_base, stride_kt, lo, full_lo, hi,
                                   first, count, d, d_ok, scale_log2, True, BLOCK_N, UPCAST, IEEE)
    acc, m_i, l_i = _fwd_key_tiles(acc, m_i, l_i, q, K, V, kv_base, stride_kt, full_lo, full_hi,
                                   hi, first, count, d, d_ok, scale_log2, False, BLOCK_N, UPCAST,
                                   IEEE)
    acc, m_i, l_i = _fwd_key_tiles(acc, m_i, l_i, q, K, V, kv_base, stride_kt, full_hi, hi, hi,
                                   first, count, d, d_ok, scale_log2, True, BLOCK_N, UPCAST, IEEE)

    seen = l_i > 0
    out = acc / tl.where(seen, l_i, 1.0)[:, None]
    lse = tl.where(seen, (m_i * scale_log2 + tl.log2(tl.where(seen, l_i, 1.0))) * LN2,
                   float("-inf"))
    o_ptrs = O + batch * stride_ob + token[:, None] * stride_ot + head[:, None] * stride_oh + d[None, :]
    tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    tl.store(LSE + batch * stride_lb + token * stride_lt + head, lse, mask=row_ok)


@triton.jit
def _dkdv_query_tiles(dk, dv, k, v, u, Q, DO, LSE, DELTA, ROW_SEQ, CU_Q, CU_K, batch, kv_head,
                      t_from, t_to, t_hi, d, d_ok,
                      stride_qb, stride_qt, stride_qh, stride_lb, stride_lt,
                      num_queries, window_size, cmp_block, cmp_stride, scale_log2,
                      MASKED: tl.constexpr, MODE: tl.constexpr, G: tl.constexpr,
                      GP: tl.constexpr, BLOCK_T: tl.constexpr, UPCAST: tl.constexpr,
                      IEEE: tl.constexpr):
    """dK, dV [BLOCK_N, D] float32 += the query tiles t_from, t_from + BLOCK_T, ... < t_to, all
    G heads of each token. MASKED: rows past t_hi drop out and each row keeps only the keys it
    sees; otherwise every row sees every key u (the caller checked)."""
    m = tl.arange(0, BLOCK_T * GP)
    head = kv_head * G + m % GP
    for start in range(t_from, t_to, BLOCK_T):
        token = (start + m // GP).to(tl.int64)           # offsets: B * T * H * D may pass 2**31
        if MASKED:
            row_ok = (token < t_hi) & (m % GP < G)
            first, count = _visible_keys(token, row_ok, ROW_SEQ, CU_Q, CU_K, num_queries,
                                         window_size, cmp_block, cmp_stride, MODE)
            rel = u[None, :] - first[:, None]
            visible = (rel >= 0) & (rel < count[:, None])
        else:
            row_ok = m % GP < G
            visible = True
        q, do, lse2, delta, _, _ = load_backward_rows(
            Q, DO, LSE, DELTA, batch, token, head, row_ok, d, d_ok,
            stride_qb, stride_qt, stride_qh, stride_lb, stride_lt)
        p, ds = attention_grads(q, do, k, v, lse2, delta, visible, scale_log2, UPCAST, IEEE)
        dv += dot(tl.trans(p.to(do.dtype)), do, UPCAST, IEEE)
        dk += dot(tl.trans(ds.to(q.dtype)), q, UPCAST, IEEE)
    return dk, dv


@triton.jit
def _range_attention_bwd_dkdv(
    Q, K, V, DO, LSE, DELTA, DK, DV, ROW_SEQ, KEY_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_lb, stride_lt, stride_split,
    num_queries, num_key_rows, num_kv_heads, scale, scale_log2,
    window_size, cmp_block, cmp_stride, split_tokens,
    MODE: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):
    """Q, DO [B, Tq, Hq, D]; K, V [B, rows, Hkv, D]; LSE (natural log), DELTA [B, Tq, Hq]
    float32; KEY_SEQ [rows] int32; DK, DV [S, B, rows, Hkv, D] (S = 1: K's dtype; else float32
    partials, split s at s * stride_split). Grid (cdiv(rows, BLOCK_N), B * Hkv, S): each program
    owns BLOCK_N keys and walks the query tokens of its split, [s, s + 1) * split_tokens, that
    can see any of them, G heads at a time; the tokens that see all of them skip the mask."""
    split = tl.program_id(2)
    batch = tl.program_id(1).to(tl.int64) // num_kv_heads
    kv_head = tl.program_id(1) % num_kv_heads
    u = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    u_ok = u < num_key_rows
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM

    # The query tokens that may see key row u: [q_start + lo - off, q_start + hi - off], with
    # positions lo..hi in the key's sequence and off the position of its first query.
    seq = tl.load(KEY_SEQ + u, mask=u_ok, other=0)
    q_start = tl.load(CU_Q + seq)
    q_len = tl.load(CU_Q + seq + 1) - q_start
    k_start = tl.load(CU_K + seq)
    k_len = tl.load(CU_K + seq + 1) - k_start
    off = k_len - q_len
    if MODE == 0:                                        # MODE_WINDOW: key at position u - k_start
        lo = tl.maximum(u - k_start, off)
        hi = tl.minimum(u - k_start + window_size - 1, k_len - 1)
    else:                                                # compressed key i of its sequence
        i = u - k_start // cmp_stride
        lo = tl.maximum(i * cmp_stride + cmp_block - 1, off)
        hi = k_len - 1
    key_ok = u_ok & (lo <= hi)
    t_lo = tl.min(tl.where(key_ok, q_start + lo - off, num_queries), 0)
    t_hi = tl.max(tl.where(key_ok, q_start + hi - off + 1, 0), 0)
    t_lo = tl.maximum(t_lo, split * split_tokens)
    t_hi = tl.minimum(t_hi, (split + 1) * split_tokens)
    # Tokens that see every key of the tile (none if some key is seen by nobody).
    all_lo = tl.max(tl.where(key_ok, q_start + lo - off, num_queries), 0)
    all_hi = tl.min(tl.where(key_ok, q_start + hi - off + 1, 0), 0)
    full_lo, full_hi = full_span(t_lo, t_hi, all_lo, all_hi, BLOCK_T)

    kv_offsets = batch * stride_kb + u[:, None].to(tl.int64) * stride_kt + kv_head * stride_kh + d[None, :]
    kv_mask = u_ok[:, None] & d_ok[None, :]
    k = tl.load(K + kv_offsets, mask=kv_mask, other=0.0)
    v = tl.load(V + kv_offsets, mask=kv_mask, other=0.0)
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    loop = (Q, DO, LSE, DELTA, ROW_SEQ, CU_Q, CU_K, batch, kv_head)
    dk, dv = _dkdv_query_tiles(dk, dv, k, v, u, *loop, t_lo, full_lo, t_hi, d, d_ok,
                               stride_qb, stride_qt, stride_qh, stride_lb, stride_lt,
                               num_queries, window_size, cmp_block, cmp_stride, scale_log2,
                               True, MODE, G, GP, BLOCK_T, UPCAST, IEEE)
    dk, dv = _dkdv_query_tiles(dk, dv, k, v, u, *loop, full_lo, full_hi, t_hi, d, d_ok,
                               stride_qb, stride_qt, stride_qh, stride_lb, stride_lt,
                               num_queries, window_size, cmp_block, cmp_stride, scale_log2,
                               False, MODE, G, GP, BLOCK_T, UPCAST, IEEE)
    dk, dv = _dkdv_query_tiles(dk, dv, k, v, u, *loop, full_hi, t_hi, t_hi, d, d_ok,
                               stride_qb, stride_qt, stride_qh, stride_lb, stride_lt,
                               num_queries, window_size, cmp_block, cmp_stride, scale_log2,
                               True, MODE, G, GP, BLOCK_T, UPCAST, IEEE)

    out_offsets = split.to(tl.int64) * stride_split + kv_offsets
    tl.store(DK + out_offsets, (dk * scale).to(DK.dtype.element_ty), mask=kv_mask)
    tl.store(DV + out_offsets, dv.to(DV.dtype.element_ty), mask=kv_mask)


@triton.jit
def _dq_key_tiles(dq, q, do, lse2, delta, K, V, kv_base, stride_kt, key_lo, key_hi, hi, first,
                  count, d, d_ok, scale_log2, MASKED: tl.constexpr, BLOCK_N: tl.constexpr,
                  UPCAST: tl.constexpr, IEEE: tl.constexpr):
    """dQ [M, D] float32 += dS K over the key tiles key_lo, ... < key_hi (unscaled);
    MASKED as in _fwd_key_tiles."""
    for start in range(key_lo, key_hi, BLOCK_N):
        u = start + tl.arange(0, BLOCK_N)
        kv_offsets = kv_base + u[:, None].to(tl.int64) * stride_kt + d[None, :]
        if MASKED:
            kv_mask = (u < hi)[:, None] & d_ok[None, :]
            rel = u[None, :] - first[:, None]
            visible = (rel >= 0) & (rel < count[:, None])
        else:
            kv_mask = d_ok[None, :]
            visible = True
        k = tl.load(K + kv_offsets, mask=kv_mask, other=0.0)
        v = tl.load(V + kv_offsets, mask=kv_mask, other=0.0)
        _, ds = attention_grads(q, do, k, v, lse2, delta, visible, scale_log2, UPCAST, IEEE)
        dq += dot(ds.to(k.dtype), k, UPCAST, IEEE)
    return dq


@triton.jit
def _range_attention_bwd_dq(
    Q, K, V, DO, LSE, DELTA, DQ, DQ_ACC, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_lb, stride_lt,
    num_queries, num_key_rows, num_kv_heads, scale, scale_log2,
    window_size, cmp_block, cmp_stride,
    MODE: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
    ACCUMULATE: tl.constexpr,
):
    """Shapes as in _range_attention_bwd_dkdv, DQ (and DQ_ACC) like Q. Grid (cdiv(Tq, BLOCK_T),
    B * Hkv), the forward's tiling and three-part key loop: a program owns the G heads of
    BLOCK_T tokens and walks their keys. ACCUMULATE: DQ = DQ_ACC + this branch's dQ, one
    rounding."""
    batch, kv_head, token, head, row_ok = gqa_tile(num_queries, num_kv_heads, G, GP, BLOCK_T, GP)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    first, count = _visible_keys(token, row_ok, ROW_SEQ, CU_Q, CU_K, num_queries, window_size,
                                 cmp_block, cmp_stride, MODE)
    lo, hi, full_lo, full_hi = _query_tile_keys(first, count, row_ok, num_key_rows, BLOCK_N)

    q, do, lse2, delta, row_offsets, row_mask = load_backward_rows(
        Q, DO, LSE, DELTA, batch, token, head, row_ok, d, d_ok,
        stride_qb, stride_qt, stride_qh, stride_lb, stride_lt)
    dq = tl.zeros([BLOCK_T * GP, BLOCK_D], tl.float32)
    kv_base = batch * stride_kb + kv_head * stride_kh
    rows = (q, do, lse2, delta, K, V, kv_base, stride_kt)
    dq = _dq_key_tiles(dq, *rows, lo, full_lo, hi, first, count, d, d_ok, scale_log2, True,
                       BLOCK_N, UPCAST, IEEE)
    dq = _dq_key_tiles(dq, *rows, full_lo, full_hi, hi, first, count, d, d_ok, scale_log2, False,
                       BLOCK_N, UPCAST, IEEE)
    dq = _dq_key_tiles(dq, *rows, full_hi, hi, hi, first, count, d, d_ok, scale_log2, True,
                       BLOCK_N, UPCAST, IEEE)
    dq = dq * scale
    if ACCUMULATE:
        dq += tl.load(DQ_ACC + row_offsets, mask=row_mask, other=0.0).to(tl.float32)
    tl.store(DQ + row_offsets, dq.to(DQ.dtype.element_ty), mask=row_mask)


def range_attention_forward(q, k, v, cu_seqlens_q, cu_seqlens_k, seqlen_k: int, mode: int,
                            window_size: int, cmp_block: int, cmp_stride: int, scale: float,
                            rows: int = 0, block_n: int = 0, num_warps: int = 0,
                            num_stages: int = 0):
    """q [B, Tq, Hq, D]; k, v [B, rows, Hkv, D]; returns (o [B, Tq, Hq, D], lse [B, Tq, Hq] fp32).

    For MODE_COMPRESSED, k and v are the compressed keys and seqlen_k / cu_seqlens_k describe
    the uncompressed keys they came from. `rows` (query rows per tile: G heads x tokens),
    `block_n` (keys per step), `num_warps`, `num_stages` are tuning knobs
    (benchmarks/sweep_range.py); 0 takes the default below.
    """
    batch, num_queries, num_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    group = num_heads // num_kv_heads
    o = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
    if o.numel() == 0:
        return o, lse.fill_(float("-inf"))
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, seqlen_k)
    # Compressed keys (ranges of thousands of keys) run best in 128-row tiles on 8 warps,
    # 3 stages deep; the window's 512 keys in 64-row tiles on 4 warps (H200 sweep at 64K, G = 4:
    # compressed 2.95 -> 2.66 ms, window 1.06 either way: benchmarks/results/NVIDIA_H200/).
    long_ranges = mode == MODE_COMPRESSED and head_dim <= 128
    default_rows, default_warps, default_stages = (128, 8, 3) if long_ranges else (64, 4, 2)
    sizes = block_sizes(group, head_dim, rows or default_rows)
    grid = (triton.cdiv(num_queries, sizes.block_t), batch * num_kv_heads)
    _range_attention_fwd[grid](
        q, k, v, o, lse, row_seq, cu_q, cu_k,
        q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2),
        o.stride(0), o.stride(1), o.stride(2),
        lse.stride(0), lse.stride(1),
        num_queries, k.shape[1], num_kv_heads, scale * LOG2E,
        window_size, cmp_block, cmp_stride,
        MODE=mode, G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim,
        BLOCK_T=sizes.block_t, BLOCK_N=block_n or sizes.block_n, BLOCK_D=sizes.block_d,
        **dot_modes(q.dtype),
        num_warps=num_warps or default_warps, num_stages=num_stages or default_stages,
    )
    return o, lse


def key_sequences(cu_seqlens_k, num_key_rows: int, row_stride: int, device) -> torch.Tensor:
    """[rows] int32: the sequence each key row belongs to (row_stride = compress_stride for the
    packed compressed layout, where the sequence starting at key s owns rows s // stride + i).
    All zeros when batched."""
    if cu_seqlens_k is None:
        return torch.zeros(num_key_rows, dtype=torch.int32, device=device)
    starts = (cu_seqlens_k[:-1] // row_stride).contiguous()
    rows = torch.arange(num_key_rows, device=device, dtype=starts.dtype)
    seq = torch.searchsorted(starts, rows, right=True) - 1
    return seq.clamp_(min=0).to(torch.int32)


def range_attention_backward(do, q, k, v, o, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                             mode: int, window_size: int, cmp_block: int, cmp_stride: int,
                             scale: float, query_splits: int = 0, dkdv_rows: int = 64,
                             dkdv_block_n: int = 0, dkdv_warps: int = 0, dkdv_stages: int = 0,
                             dq_rows: int = 64, dq_block_n: int = 0, dq_warps: int = 0,
                             dq_stages: int = 0,
                             dq_accumulate: Optional[torch.Tensor] = None):
    """do, q, o [B, Tq, Hq, D]; k, v [B, rows, Hkv, D]; lse [B, Tq, Hq] float32 from the
    forward -> (dq, dk, dv) shaped like q, k, v. All tensors contiguous. `dq_accumulate`
    (like q): a gradient of q from elsewhere, added into the returned dq by the dQ kernel.

    `query_splits` S (0: from the shapes): the dK/dV programs of one key tile split the query
    tokens into S spans and write float32 partials, summed in split order (deterministic).
    A compressed key tile near the start is seen by every later query: without splits its one
    program walks all of them while the rest of the GPU idles. Workspace 2 * S * K's elements
    in float32 when S > 1. The other arguments are tuning knobs (benchmarks/sweep_range.py
    --backward), 0 meaning block_sizes' choice.
    """
    batch, num_queries, num_heads, head_dim = q.shape
    num_key_rows, num_kv_heads = k.shape[1], k.shape[2]
    group = num_heads // num_kv_heads
    dq = torch.empty_like(q)
    if dq.numel() == 0 or k.numel() == 0:
        dq = dq.zero_() if dq_accumulate is None else dq.copy_(dq_accumulate)
        return dq, torch.zeros_like(k), torch.zeros_like(v)
    delta = row_dot(do, o)
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, seqlen_k)
    key_seq = key_sequences(None if cu_seqlens_k is None else cu_k, num_key_rows,
                            cmp_stride if mode else 1, q.device)
    sizes = block_sizes(group, head_dim)
    common = dict(MODE=mode, G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim,
                  BLOCK_D=sizes.block_d, **dot_modes(q.dtype))
    strides = (q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
               lse.stride(0), lse.stride(1))
    params = (num_queries, num_key_rows, num_kv_heads, scale, scale * LOG2E, window_size,
              cmp_block, cmp_stride)

    dkdv_sizes = block_sizes(group, head_dim, dkdv_rows)
    block_n = dkdv_block_n or sizes.block_n
    key_tiles = triton.cdiv(num_key_rows, block_n) * batch * num_kv_heads
    splits = query_splits or (1 if mode == MODE_WINDOW else default_query_splits(key_tiles, num_queries))
    split_tokens = triton.cdiv(triton.cdiv(num_queries, splits), dkdv_sizes.block_t) * dkdv_sizes.block_t
    if splits == 1:
        dk, dv = torch.empty_like(k), torch.empty_like(v)
    else:
        dk = torch.empty((splits,) + k.shape, dtype=torch.float32, device=k.device)
        dv = torch.empty_like(dk)
    _range_attention_bwd_dkdv[(triton.cdiv(num_key_rows, block_n), batch * num_kv_heads, splits)](
        q, k, v, do, lse, delta, dk, dv, row_seq, key_seq, cu_q, cu_k,
        *strides, k.numel(), *params, split_tokens,
        BLOCK_T=dkdv_sizes.block_t, BLOCK_N=block_n,
        num_warps=dkdv_warps or (4 if sizes.block_d <= 128 else 8),
        num_stages=dkdv_stages or sizes.num_stages, **common)
    if splits > 1:
        dk, dv = dk.sum(0).to(k.dtype), dv.sum(0).to(v.dtype)
    dq_sizes = block_sizes(group, head_dim, dq_rows)
    _range_attention_bwd_dq[(triton.cdiv(num_queries, dq_sizes.block_t), batch * num_kv_heads)](
        q, k, v, do, lse, delta, dq, dq if dq_accumulate is None else dq_accumulate,
        row_seq, cu_q, cu_k, *strides, *params,
        BLOCK_T=dq_sizes.block_t, BLOCK_N=dq_block_n or sizes.block_n,
        num_warps=dq_warps or sizes.num_warps, num_stages=dq_stages or sizes.num_stages,
        ACCUMULATE=dq_accumulate is not None, **common)
    return dq, dk, dv


def default_query_splits(key_tiles: int, num_queries: int, programs: int = 2048,
                         min_tokens: int = 2048) -> int:
    """Query spans for the dK/dV pass: enough programs to fill the GPU several times over
    (`programs`), each span at least `min_tokens` long so a program's fixed cost pays off."""
    wanted = triton.cdiv(programs, key_tiles)
    return max(1, min(wanted, num_queries // min_tokens, 16))
