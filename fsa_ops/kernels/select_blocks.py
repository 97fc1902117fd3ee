"""select_blocks, fused: scores are recomputed from q, k_cmp and lse, summed over the G heads
of the group, mapped to selection blocks with overlap weights, and the top n kept on the fly.
Nothing per compressed key or per block reaches global memory.

A program owns one kv head and BLOCK_T tokens (their G heads stacked as the rows of one
tile, as in range_attention) and walks the selection blocks in chunks of BLOCK_B. Block j
overlaps at most K_PER = (l' + l - 2) // d + 1 compressed keys, starting at
i0(j) = ceil((j l' - l + 1) / d): for each r < K_PER one [rows, D] x [D, BLOCK_B] product gives
the probability of key i0(j) + r for every row and block of the chunk. A running top-n per
token, ordered by (score desc, block asc) with forced blocks at +inf, absorbs each chunk.

Batched input only; packed input (cu_seqlens) goes to the reference.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import block_sizes, dot, dot_modes, gqa_tile

LOG2E = 1.4426950408889634


@triton.jit
def _select_blocks_fwd(
    Q, K_CMP, LSE, OUT,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_lb, stride_lt,
    stride_ob, stride_ot, stride_oh,
    num_queries, seqlen_k, num_cmp, num_kv_heads, scale_log2,
    cmp_block, cmp_stride, select_block, num_selected, num_init, num_local,
    G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_T: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr, K_PER: tl.constexpr, NP: tl.constexpr,
    UPCAST: tl.constexpr, IEEE: tl.constexpr,
):
    """Q [B, Tq, Hq, D], K_CMP [B, Tc, Hkv, D], LSE [B, Tq, Hq] fp32 (natural log),
    OUT [B, Tq, Hkv, n] int32. Grid (cdiv(Tq, BLOCK_T), B * Hkv)."""
    NEVER: tl.constexpr = 2147483647
    batch, kv_head, token, head, row_ok = gqa_tile(num_queries, num_kv_heads, G, GP, BLOCK_T)
    pid_t = tl.program_id(0).to(tl.int64)
    pos = seqlen_k - num_queries + token
    d = tl.arange(0, BLOCK_D)
    q = tl.load(Q + batch * stride_qb + token[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :],
                mask=row_ok[:, None] & (d[None, :] < HEAD_DIM), other=0.0)
    lse = tl.load(LSE + batch * stride_lb + token * stride_lt + head, mask=row_ok, other=float("-inf"))
    lse2 = tl.where(lse == float("-inf"), 0.0, lse * 1.4426950408889634)

    # Per token of the tile (not per row): position and last valid block.
    t_tok = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    pos_tok = seqlen_k - num_queries + t_tok
    last_tok = tl.where(t_tok < num_queries, pos_tok // select_block, -1).to(tl.int32)
    top = tl.max(last_tok, 0)

    col = tl.arange(0, NP)
    best_s = tl.full([BLOCK_T, NP], float("-inf"), tl.float32)
    best_j = tl.full([BLOCK_T, NP], NEVER, tl.int32)
    for j0 in range(0, top + 1, BLOCK_B):
        j = (j0 + tl.arange(0, BLOCK_B)).to(tl.int32)                      # [BLOCK_B]
        first_key = tl.maximum(j * select_block - cmp_block + 1, 0)
        i0 = (first_key + cmp_stride - 1) // cmp_stride
        score = tl.zeros([BLOCK_T, BLOCK_B], tl.float32)
        for r in tl.static_range(K_PER):
            i = i0 + r                                                     # [BLOCK_B]
            i_ok = i < num_cmp
            k = tl.load(K_CMP + batch * stride_kb + i[:, None].to(tl.int64) * stride_kt
                        + kv_head * stride_kh + d[None, :],
                        mask=i_ok[:, None] & (d[None, :] < HEAD_DIM), other=0.0)
            s = dot(q, tl.trans(k), UPCAST, IEEE) * scale_log2           # [BLOCK_M, BLOCK_B]
            visible = row_ok[:, None] & i_ok[None, :] & (i[None, :] * cmp_stride + cmp_block - 1 <= pos[:, None])
            # p <= 1; the min guards against rounding of huge scores (common.attention_grads)
            p = tl.where(visible, tl.exp2(tl.minimum(s - lse2[:, None], 0.0)), 0.0)
            votes = tl.sum(tl.reshape(p, [BLOCK_T, GP, BLOCK_B]), 1)       # all G heads vote
            lo = tl.maximum(i * cmp_stride, j * select_block)
            hi = tl.minimum(i * cmp_stride + cmp_block, (j + 1) * select_block)
            weight = tl.maximum(hi - lo, 0).to(tl.float32) / cmp_stride
            score += votes * weight[None, :]
        valid = j[None, :] <= last_tok[:, None]
        forced = valid & ((j[None, :] < num_init) | (j[None, :] > last_tok[:, None] - num_local))
        chunk_s = tl.where(forced, float("inf"), score)
        chunk_s = tl.where(valid, chunk_s, float("-inf"))
        chunk_j = tl.zeros([BLOCK_T, BLOCK_B], tl.int32) + j[None, :]
        # Keep the NP best of best ∪ chunk: NP rounds of (largest score, then smallest block).
        new_s = tl.full([BLOCK_T, NP], float("-inf"), tl.float32)
        new_j = tl.full([BLOCK_T, NP], NEVER, tl.int32)
        for rank in tl.static_range(NP):
            top_s = tl.maximum(tl.max(best_s, 1), tl.max(chunk_s, 1))
            top_j = tl.minimum(tl.min(tl.where(best_s == top_s[:, None], best_j, NEVER), 1),
                               tl.min(tl.where(chunk_s == top_s[:, None], chunk_j, NEVER), 1))
            new_s = tl.where(col[None, :] == rank, top_s[:, None], new_s)
            new_j = tl.where(col[None, :] == rank, top_j[:, None], new_j)
            best_s = tl.where(best_j == top_j[:, None], float("-inf"), best_s)
            best_j = tl.where(best_j == top_j[:, None], NEVER, best_j)
            chunk_s = tl.where(chunk_j == top_j[:, None], float("-inf"), chunk_s)
            chunk_j = tl.where(chunk_j == top_j[:, None], NEVER, chunk_j)
        best_s = new_s
        best_j = new_j

    chosen = tl.where((best_s > float("-inf")) & (col[None, :] < num_selected), best_j, NEVER)
    chosen = tl.sort(chosen, 1)                                            # ascending, unused last
    chosen = tl.where(chosen == NEVER, -1, chosen)
    out_ptrs = OUT + batch * stride_ob + t_tok[:, None] * stride_ot + kv_head * stride_oh + col[None, :]
    tl.store(out_ptrs, chosen, mask=(t_tok[:, None] < num_queries) & (col[None, :] < num_selected))


def select_blocks_forward(q, k_cmp, lse, seqlen_k: int, compress_block_size: int,
                          compress_stride: int, select_block_size: int, num_selected_blocks: int,
                          num_init_blocks: int, num_local_blocks: int, scale: float,
                          block_b: int = 16):
    """Batched: q [B, Tq, Hq, D], k_cmp [B, Tc, Hkv, D], lse [B, Tq, Hq] -> [B, Tq, Hkv, n] int32.
    `block_b`: selection blocks per chunk (the running top-n is merged once per chunk)."""
    batch, num_queries, num_heads, head_dim = q.shape
    num_kv_heads = k_cmp.shape[2]
    group = num_heads // num_kv_heads
    out = torch.empty((batch, num_queries, num_kv_heads, num_selected_blocks), dtype=torch.int32,
                      device=q.device)
    if out.numel() == 0:
        return out
    sizes = block_sizes(group, head_dim)
    k_per = (select_block_size + compress_block_size - 2) // compress_stride + 1
    _select_blocks_fwd[(triton.cdiv(num_queries, sizes.block_t), batch * num_kv_heads)](
        q, k_cmp, lse, out,
        q.stride(0), q.stride(1), q.stride(2),
        k_cmp.stride(0), k_cmp.stride(1), k_cmp.stride(2),
        lse.stride(0), lse.stride(1),
        out.stride(0), out.stride(1), out.stride(2),
        num_queries, seqlen_k, k_cmp.shape[1], num_kv_heads, scale * LOG2E,
        compress_block_size, compress_stride, select_block_size, num_selected_blocks,
        num_init_blocks, num_local_blocks,
        G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim, BLOCK_T=sizes.block_t, BLOCK_B=block_b,
        BLOCK_D=sizes.block_d, K_PER=k_per, NP=triton.next_power_of_2(num_selected_blocks),
        **dot_modes(q.dtype), num_warps=4,
    )
    return out
