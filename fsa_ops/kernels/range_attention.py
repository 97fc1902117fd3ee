"""Flash-style forward for the branches where each query reads one contiguous range of keys:
the sliding window (keys t - w < u <= t) and the compressed keys (i * stride + block - 1 <= t).

GQA packing: a program owns one kv head and BLOCK_T consecutive query tokens, and stacks all
G query heads of those tokens into the rows of one [BLOCK_T * GP, D] tile (GP = G rounded up
to a power of two), so every K/V tile it loads feeds G heads at once and small groups still
fill the matrix units.

Packed sequences: every query row looks up its own sequence (row_seq), so a tile may straddle
a sequence boundary; the key loop covers the union of its rows' ranges and the mask keeps each
row inside its own sequence. Batched input is the one-sequence case with a batch grid axis.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import MODE_WINDOW, block_sizes, dot, dot_modes, gqa_tile, sequence_tables

LOG2E = 1.4426950408889634
LN2 = tl.constexpr(0.6931471805599453)   # kernels read it: must be a constexpr


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
    LSE [B, Tq, Hq] float32 (natural log). Grid: (cdiv(Tq, BLOCK_T), B * Hkv)."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    batch, kv_head, token, head, row_ok = gqa_tile(num_queries, num_kv_heads, G, GP, BLOCK_T)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM

    seq = tl.load(ROW_SEQ + token, mask=token < num_queries, other=0)
    q_start = tl.load(CU_Q + seq)
    q_len = tl.load(CU_Q + seq + 1) - q_start
    k_start = tl.load(CU_K + seq)
    k_len = tl.load(CU_K + seq + 1) - k_start
    pos = k_len - q_len + (token - q_start)              # position inside its sequence

    # The rows of K each query may read: [first, first + count).
    if MODE == 0:                                        # MODE_WINDOW
        first = k_start + tl.maximum(pos - window_size + 1, 0)
        count = pos + 1 - tl.maximum(pos - window_size + 1, 0)
    else:
        first = k_start // cmp_stride
        count = tl.where(pos >= cmp_block - 1, (pos - cmp_block + 1) // cmp_stride + 1, 0)
    count = tl.where(row_ok, count, 0)
    lo = tl.min(tl.where(count > 0, first, num_key_rows), 0)
    hi = tl.max(tl.where(count > 0, first + count, 0), 0)

    q_ptrs = Q + batch * stride_qb + token[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :]
    q = tl.load(q_ptrs, mask=row_ok[:, None] & d_ok[None, :], other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    kv_base = batch * stride_kb + kv_head * stride_kh
    for start in range(lo, hi, BLOCK_N):
        u = start + tl.arange(0, BLOCK_N).to(tl.int64)
        u_ok = u < hi
        kv_offsets = kv_base + u[:, None] * stride_kt + d[None, :]
        k = tl.load(K + kv_offsets, mask=u_ok[:, None] & d_ok[None, :], other=0.0)
        s = dot(q, tl.trans(k), UPCAST, IEEE) * scale_log2
        rel = u[None, :] - first[:, None]
        visible = (rel >= 0) & (rel < count[:, None])
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)   # rows that saw nothing yet
        alpha = tl.exp2(m_i - m_use)
        p = tl.exp2(s - m_use[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + kv_offsets, mask=u_ok[:, None] & d_ok[None, :], other=0.0)
        acc = acc * alpha[:, None] + dot(p.to(v.dtype), v, UPCAST, IEEE)
        m_i = m_new

    seen = l_i > 0
    out = acc / tl.where(seen, l_i, 1.0)[:, None]
    lse = tl.where(seen, (m_i + tl.log2(tl.where(seen, l_i, 1.0))) * LN2, float("-inf"))
    o_ptrs = O + batch * stride_ob + token[:, None] * stride_ot + head[:, None] * stride_oh + d[None, :]
    tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    tl.store(LSE + batch * stride_lb + token * stride_lt + head, lse, mask=row_ok)


def range_attention_forward(q, k, v, cu_seqlens_q, cu_seqlens_k, seqlen_k: int, mode: int,
                            window_size: int, cmp_block: int, cmp_stride: int, scale: float):
    """q [B, Tq, Hq, D]; k, v [B, rows, Hkv, D]; returns (o [B, Tq, Hq, D], lse [B, Tq, Hq] fp32).

    For MODE_COMPRESSED, k and v are the compressed keys and seqlen_k / cu_seqlens_k describe
    the uncompressed keys they came from.
    """
    batch, num_queries, num_heads, head_dim = q.shape
    num_kv_heads = k.shape[2]
    group = num_heads // num_kv_heads
    o = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
    if o.numel() == 0:
        return o, lse.fill_(float("-inf"))
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, seqlen_k)
    sizes = block_sizes(group, head_dim)
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
        BLOCK_T=sizes.block_t, BLOCK_N=sizes.block_n, BLOCK_D=sizes.block_d,
        **dot_modes(q.dtype),
        num_warps=sizes.num_warps, num_stages=sizes.num_stages,
    )
    return o, lse
