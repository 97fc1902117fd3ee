"""select_blocks, fused: scores are recomputed from q, k_cmp and lse, summed over the G heads
of the group, mapped to selection blocks with overlap weights, and the top n kept on the fly.
Nothing per compressed key or per block reaches global memory.

A program owns one kv head and BLOCK_T tokens (their G heads stacked as the rows of one
tile, as in range_attention) and walks the selection blocks in chunks. In units of the
compression stride d, compressed key i covers units [i, i + R) (R = l / d) and block j covers
[j U, (j + 1) U) (U = l' / d), so weight(i, j) = |overlap| in units. A chunk of NB blocks
starting at j0 needs keys j0 U - R + 1 .. (j0 + NB) U - 1, at most KEYS (a power of two) of
them: one [rows, D] x [D, KEYS] product gives their probabilities, and one [rows, KEYS] x
[KEYS, BLOCK_B] product with the overlap weights, the same for every chunk, gives every row's
block scores (to ~float32 accuracy: split_dot, two float16 products). The G heads' rows are
summed per token. The rows are laid out in spans of 16 (common.gqa_tile): a warp's 16 rows
of the MMA result sit on 8 lanes x 2 registers, and with GP heads x 16 / GP tokens to a span
part of the head sum stays in registers, so fewer lanes hold copies of each token's top-n
(at G = 4, 2 instead of 4: half the instructions per insertion round).

A running top-n per token, ordered by (score desc, block asc) with forced blocks at +inf,
absorbs each chunk by insertion: only blocks that beat the token's current n-th best are
candidates, and each round moves the best candidate in over the worst kept block. After the
first chunks few blocks qualify, so a chunk costs a few rounds instead of n. The first chunk
(at most n blocks) goes straight into the empty slots, without rounds. A round either searches
the kept blocks for the worst (plain) or keeps them ordered worst first and shifts them
(sorted: no search, but a layout of its own; faster at G >= 8, slower at G <= 4).

Masks are paid only at the ends: the chunk loop runs in three parts, masked chunks at the
start (keys before key 0, forced initial blocks), chunks that every row of the tile sees whole
and whose blocks are free for every token (no visibility mask, no forced or validity test),
and masked chunks up to the tokens' own blocks (partly visible keys, forced local blocks).

Packed input: the tile loops over the sequences its tokens belong to (usually one); each pass
reads that sequence's compressed keys and updates only its tokens.
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from .common import (INTERPRETING, block_sizes, dot, dot_modes, full_span, gqa_tile, place_by_rank,
                     register_cap, sequence_tables, sort_rows)

LOG2E = 1.4426950408889634


# p is scaled by 2**P_SHIFT before split_dot (so p <= 2**14), so that its float16 terms keep
# their precision: the split is exact to 2**-22 relative, or 2**-39 absolute where the low term
# is subnormal (p < 2**-17). Scores only rank blocks, so the scale is never undone.
P_SHIFT = tl.constexpr(14.0)


@triton.jit
def split_dot(p, weight, UPCAST: tl.constexpr, HALF: tl.constexpr):
    """p [M, K] float32 in [0, 2**14] @ weight [K, N] float32 holding small integers, to ~float32
    accuracy. HALF: p is split into two float16 terms (11 + 11 bits of mantissa), two MMAs
    (weights exact up to 2048); otherwise three bfloat16 terms (8 + 8 + 8 bits; weights exact
    up to 256). UPCAST (the interpreter, whose bfloat16 is unreliable, or weights past the
    exact range): one float32 product."""
    if UPCAST:
        return tl.dot(p, weight, input_precision="ieee")
    if HALF:
        w16 = weight.to(tl.float16)
        hi16 = p.to(tl.float16)
        lo16 = (p - hi16.to(tl.float32)).to(tl.float16)
        return tl.dot(hi16, w16) + tl.dot(lo16, w16)
    w = weight.to(tl.bfloat16)
    hi = p.to(tl.bfloat16)
    rest = p - hi.to(tl.float32)
    mid = rest.to(tl.bfloat16)
    lo = (rest - mid.to(tl.float32)).to(tl.bfloat16)
    return tl.dot(hi, w) + tl.dot(mid, w) + tl.dot(lo, w)


@triton.jit
def _chunk_scores(q, lse2, K_CMP, kv_base, stride_kt, key_row0, i0, c, d, d_ok, weight, pos,
                  row_in, num_cmp, num_cmp_rows, cmp_block, cmp_stride, scale_log2,
                  MASKED: tl.constexpr, BLOCK_T: tl.constexpr, GP: tl.constexpr,
                  SPAN: tl.constexpr, BLOCK_B: tl.constexpr, UPCAST: tl.constexpr,
                  IEEE: tl.constexpr, SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr):
    """Block scores [BLOCK_T, BLOCK_B] of one chunk for the tile's tokens, all G heads summed:
    q [rows, D], lse2 [rows] (log2 units; +inf on rows outside the tile, so their p is 0),
    the chunk's keys i0 + c (c [KEYS]) and weight [KEYS, BLOCK_B]. MASKED: each row keeps the
    keys that exist and that it sees (pos [rows], row_in [rows]); otherwise every key of the
    chunk exists and every row sees it (the caller checked)."""
    i = i0 + c
    key_ptrs = K_CMP + kv_base + (key_row0 + i)[:, None].to(tl.int64) * stride_kt + d[None, :]
    if MASKED:
        i_ok = (i >= 0) & (i < num_cmp) & (key_row0 + i < num_cmp_rows)
        k = tl.load(key_ptrs, mask=i_ok[:, None] & d_ok[None, :], other=0.0)
    else:
        k = tl.load(key_ptrs, mask=d_ok[None, :], other=0.0)
    s = dot(q, tl.trans(k), UPCAST, IEEE) * scale_log2                         # [rows, KEYS]
    # p <= 1 (the min guards against rounding of huge scores: common.recomputed_probabilities),
    # scaled
    p = tl.exp2(tl.minimum(s - lse2[:, None], 0.0) + P_SHIFT)
    if MASKED:
        visible = row_in[:, None] & i_ok[None, :] & (i[None, :] * cmp_stride + cmp_block - 1 <= pos[:, None])
        p = tl.where(visible, p, 0.0)
    score = split_dot(p, weight, SPLIT_UPCAST, HALF)                            # [rows, BLOCK_B]
    # All G heads vote: rows are spans of SPAN / GP tokens x GP heads (common.gqa_tile).
    spans = tl.reshape(score, [BLOCK_T * GP // SPAN, GP, SPAN // GP, BLOCK_B])
    return tl.reshape(tl.sum(spans, 1), [BLOCK_T, BLOCK_B])


@triton.jit
def _sort_ascending(best_s, best_j):
    """best_s, best_j [BLOCK_T, NP] -> both with each row ordered worst first (score asc,
    block desc), by rank (as common.sort_rows). Blocks of a row are distinct."""
    col = tl.arange(0, best_s.shape[1])
    s_mine, s_other = best_s[:, :, None], best_s[:, None, :]
    j_mine, j_other = best_j[:, :, None], best_j[:, None, :]
    rank = tl.sum(((s_other < s_mine) | ((s_other == s_mine) & (j_other > j_mine))).to(tl.int32), 2)
    return place_by_rank(best_s, rank, col), place_by_rank(best_j, rank, col)


@triton.jit
def _better(s1, b1, s2, b2):
    """tl.reduce combine over (score, column): the higher score, the smaller column on ties."""
    first = (s1 > s2) | ((s1 == s2) & (b1 < b2))
    return tl.where(first, s1, s2), tl.where(first, b1, b2)


@triton.jit
def _slot_above(x, fill):
    """x [T, NP] -> [T, NP] with column i holding x[:, i + 1] and the last column `fill`.
    Pairs of slots are split so that only every other slot crosses a thread (one gather of
    NP / 2 columns): the layout then keeps two slots a thread."""
    half: tl.constexpr = x.shape[1] // 2
    even, odd = tl.split(tl.reshape(x, [x.shape[0], half, 2]))        # x[:, 2k], x[:, 2k + 1]
    k = tl.arange(0, half)
    above = tl.minimum(k + 1, half - 1)[None, :] + tl.zeros_like(even).to(tl.int32)
    even_above = tl.gather(even, above, 1)
    even_above = tl.where((k == half - 1)[None, :], fill, even_above)   # x[:, 2k + 2]
    return tl.reshape(tl.join(odd, even_above), [x.shape[0], x.shape[1]])


@triton.jit
def _absorb(best_s, best_j, chunk_s, j0, b, candidate, FILL: tl.constexpr, SORTED: tl.constexpr,
            PAIRED_TOP: tl.constexpr):
    """Each token's running top-n (best_s, best_j [BLOCK_T, NP]) absorbs a chunk's block
    scores (chunk_s [BLOCK_T, BLOCK_B] of blocks j0 + b, b = arange(BLOCK_B)); candidate
    [BLOCK_T, BLOCK_B] marks the valid blocks. Order: score desc, block asc.
    FILL (NP == BLOCK_B and at most n blocks a chunk): the first chunk (j0 = 0, every
    token's top-n still empty) goes straight into the slots of the same column.
    SORTED (NP >= 2): the top-n is kept ordered worst first, so a round needs no search for
    the worst slot: the best candidate goes in by shifting the slots below it down one, over
    slot 0.
    PAIRED_TOP: the best candidate and its column come from one reduction of (score, column)
    pairs instead of two reductions in a row (the launcher uses it with SORTED only)."""
    NEVER: tl.constexpr = 2147483647
    if FILL:
        best_s = tl.where(candidate & (j0 == 0), chunk_s, best_s)
        best_j = tl.where(candidate & (j0 == 0), j0 + b[None, :], best_j)
        candidate = candidate & (j0 != 0)
        if SORTED:
            if j0 == 0:
                best_s, best_j = _sort_ascending(best_s, best_j)
    # Candidates: valid blocks above the token's current n-th best.
    chunk_s = tl.where(candidate & (chunk_s > tl.min(best_s, 1)[:, None]), chunk_s, float("-inf"))
    rounds = tl.max(tl.sum((chunk_s > float("-inf")).to(tl.int32), 1), 0)
    if PAIRED_TOP:
        columns = b[None, :] + tl.zeros_like(chunk_s).to(tl.int32)
    for _ in range(rounds):
        # The best candidate, the smaller block on ties.
        if PAIRED_TOP:
            top_s, top_b = tl.reduce((chunk_s, columns), 1, _better)
        else:
            top_s = tl.max(chunk_s, 1)
            top_b = tl.min(tl.where(chunk_s == top_s[:, None], b[None, :], NEVER), 1)
        if SORTED:
            # Slots below the candidate move down one (slot 0, the worst, drops out) and the
            # slot just below it takes it. A kept block scoring equal to it stays above it:
            # chunk blocks come after every kept block. A candidate no better than slot 0
            # changes nothing.
            next_s = _slot_above(best_s, float("inf"))
            next_j = _slot_above(best_j, 0)
            shift = next_s < top_s[:, None]
            stay = best_s >= top_s[:, None]
            best_s = tl.where(shift, next_s, tl.where(stay, best_s, top_s[:, None]))
            best_j = tl.where(shift, next_j, tl.where(stay, best_j, j0 + top_b[:, None]))
        else:
            worst_s = tl.min(best_s, 1)
            worst_j = tl.max(tl.where(best_s == worst_s[:, None], best_j, -NEVER), 1)
            # Chunk blocks come after every kept block, so only a strictly higher score wins.
            replace = (top_s > worst_s)[:, None] & (best_j == worst_j[:, None])
            best_s = tl.where(replace, top_s[:, None], best_s)
            best_j = tl.where(replace, j0 + top_b[:, None], best_j)
        chunk_s = tl.where(b[None, :] == top_b[:, None], float("-inf"), chunk_s)
    return best_s, best_j


@triton.jit
def _chunk(best_s, best_j, q, lse2, K_CMP, kv_base, stride_kt, key_row0, j0, c, b, d, d_ok,
           weight, pos, row_in, last_tok, num_cmp, num_cmp_rows, cmp_block, cmp_stride,
           units_per_block, units_per_key, blocks_per_chunk, num_init, num_local, scale_log2,
           MASKED: tl.constexpr, FILL: tl.constexpr, SORTED: tl.constexpr,
           PAIRED_TOP: tl.constexpr, BLOCK_T: tl.constexpr, GP: tl.constexpr,
           SPAN: tl.constexpr, BLOCK_B: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
           SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr):
    """The running top-n after the chunk of blocks j0 .. j0 + NB - 1. MASKED: blocks past a
    token's last block drop out and initial / local blocks are forced (+inf); otherwise
    every block of the chunk is valid and free for every token (the caller checked)."""
    score = _chunk_scores(q, lse2, K_CMP, kv_base, stride_kt, key_row0,
                          j0 * units_per_block - units_per_key + 1, c, d, d_ok, weight, pos,
                          row_in, num_cmp, num_cmp_rows, cmp_block, cmp_stride, scale_log2,
                          MASKED, BLOCK_T, GP, SPAN, BLOCK_B, UPCAST, IEEE, SPLIT_UPCAST, HALF)
    j = j0 + b
    if MASKED:
        valid = (b < blocks_per_chunk)[None, :] & (j[None, :] <= last_tok[:, None])
        forced = (j[None, :] < num_init) | (j[None, :] > last_tok[:, None] - num_local)
        return _absorb(best_s, best_j, tl.where(forced, float("inf"), score), j0, b, valid, FILL,
                       SORTED, PAIRED_TOP)
    return _absorb(best_s, best_j, score, j0, b, (b < blocks_per_chunk)[None, :], False, SORTED,
                   PAIRED_TOP)


@triton.jit
def _select_blocks_fwd(
    Q, K_CMP, LSE, OUT, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_lb, stride_lt,
    stride_ob, stride_ot, stride_oh,
    num_queries, num_cmp_rows, num_kv_heads, scale_log2,
    cmp_block, cmp_stride, select_block, units_per_block, units_per_key, blocks_per_chunk,
    num_selected, num_init, num_local,
    G: tl.constexpr, GP: tl.constexpr, SPAN: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr, KEYS: tl.constexpr, BLOCK_B: tl.constexpr,
    NP: tl.constexpr, FILL: tl.constexpr, SORTED: tl.constexpr, PAIRED_TOP: tl.constexpr,
    UPCAST: tl.constexpr, IEEE: tl.constexpr, SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr,
):
    """Q [B, Tq, Hq, D], K_CMP [B, rows, Hkv, D], LSE [B, Tq, Hq] fp32 (natural log),
    OUT [B, Tq, Hkv, n] int32; ROW_SEQ [Tq], CU_Q, CU_K [S + 1] int32 (sequence_tables).
    Grid (cdiv(Tq, BLOCK_T), B * Hkv).
    Per sequence, the chunk loop runs in three parts: masked chunks (the first: its keys start
    before key 0, the forced initial blocks), chunks whose keys every row sees and whose blocks
    are valid and not forced for every token (no masks), masked chunks up to the tokens' last
    blocks (partly visible keys, the forced local blocks)."""
    NEVER: tl.constexpr = 2147483647
    batch, kv_head, token, head, row_ok = gqa_tile(num_queries, num_kv_heads, G, GP, BLOCK_T, SPAN)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    q = tl.load(Q + batch * stride_qb + token[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :],
                mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    lse = tl.load(LSE + batch * stride_lb + token * stride_lt + head, mask=row_ok, other=float("-inf"))
    # Rows outside the tile and rows that see no key get lse2 = +inf: p = 0 without a mask.
    lse2 = tl.where(lse == float("-inf"), float("inf"), lse * 1.4426950408889634)
    row_seq = tl.load(ROW_SEQ + token, mask=row_ok, other=-1)
    one_seq = tl.min(tl.where(row_ok, row_seq, NEVER), 0) == tl.max(tl.where(row_ok, row_seq, -1), 0)

    # Per token of the tile (not per row): its sequence, and the running top-n. Unused slots
    # (col >= n) sit at +inf so they are never the worst; empty slots are -inf with distinct
    # negative blocks so exactly one of them is replaced at a time.
    t_tok = tl.program_id(0).to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    tok_ok = t_tok < num_queries
    tok_seq = tl.load(ROW_SEQ + t_tok, mask=tok_ok, other=0)
    col = tl.arange(0, NP)
    best_s = tl.where(col[None, :] < num_selected, float("-inf"), float("inf")) + tl.zeros([BLOCK_T, NP], tl.float32)
    best_j = (-1 - col[None, :]) + tl.zeros([BLOCK_T, NP], tl.int32)

    c = tl.arange(0, KEYS)
    b = tl.arange(0, BLOCK_B)
    kv_base = batch * stride_kb + kv_head * stride_kh
    # weight[c, b]: overlap of the chunk's key c (i = j0 U - R + 1 + c) with its block b
    # (j = j0 + b), in units; the same for every chunk.
    overlap = (tl.minimum(c[:, None] + 1, (b[None, :] + 1) * units_per_block)
               - tl.maximum(c[:, None] - units_per_key + 1, b[None, :] * units_per_block))
    weight = tl.where(b[None, :] < blocks_per_chunk, tl.maximum(overlap, 0), 0).to(tl.float32)
    for seq in range(tl.min(tl.where(tok_ok, tok_seq, NEVER), 0), tl.max(tl.where(tok_ok, tok_seq, -1), 0) + 1):
        q_start = tl.load(CU_Q + seq)
        q_len = tl.load(CU_Q + seq + 1) - q_start
        k_start = tl.load(CU_K + seq)
        k_len = tl.load(CU_K + seq + 1) - k_start
        num_cmp = tl.where(k_len >= cmp_block, (k_len - cmp_block) // cmp_stride + 1, 0)
        key_row0 = k_start // cmp_stride                  # the sequence's first compressed row
        pos = (k_len - q_len + (token - q_start)).to(tl.int32)     # per row
        row_in = row_ok & (row_seq == seq)
        last_tok = tl.where(tok_ok & (tok_seq == seq), (k_len - q_len + (t_tok - q_start)) // select_block, -1)
        last_tok = last_tok.to(tl.int32)
        chunks_end = tl.max(last_tok, 0) + 1

        # The unmasked chunks [full_lo, full_hi): chunk j0 qualifies when its keys
        # j0 U - R + 1 .. j0 U - R + KEYS exist and every row sees them (the first row's
        # position sees the fewest), and its blocks j0 .. j0 + NB - 1 are neither initial nor
        # local for any token (nor past any token's last block). Only when every row of the
        # tile is in this sequence.
        pos_min = tl.min(tl.where(row_ok, pos, NEVER), 0)
        seen_by_all = tl.where(pos_min >= cmp_block - 1, (pos_min - cmp_block + 1) // cmp_stride, -1)
        seen_by_all = tl.minimum(seen_by_all, num_cmp_rows - 1 - key_row0)
        keys_past = seen_by_all + units_per_key - KEYS         # j0 U <= keys_past
        last_min = tl.min(tl.where(last_tok >= 0, last_tok, NEVER), 0)
        all_lo = tl.maximum(num_init, tl.cdiv(units_per_key - 1, units_per_block))
        all_hi = tl.minimum(tl.where(keys_past >= 0, keys_past // units_per_block, -1) + blocks_per_chunk,
                            last_min - num_local + 1)
        all_hi = tl.where(one_seq & (all_lo < all_hi), all_hi, all_lo)
        full_lo, full_hi = full_span(0, chunks_end, all_lo, all_hi, blocks_per_chunk)

        for part in tl.static_range(3):          # masked, unmasked, masked (docstring)
            if part == 0:
                lo, hi = 0, full_lo
            elif part == 1:
                lo, hi = full_lo, full_hi
            else:
                lo, hi = full_hi, chunks_end
            for j0 in range(lo, hi, blocks_per_chunk):
                best_s, best_j = _chunk(best_s, best_j, q, lse2, K_CMP, kv_base, stride_kt, key_row0,
                                        j0, c, b, d, d_ok, weight, pos, row_in, last_tok, num_cmp,
                                        num_cmp_rows, cmp_block, cmp_stride, units_per_block,
                                        units_per_key, blocks_per_chunk, num_init, num_local,
                                        scale_log2, part != 1, FILL, SORTED, PAIRED_TOP, BLOCK_T,
                                        GP, SPAN, BLOCK_B, UPCAST, IEEE, SPLIT_UPCAST, HALF)

    chosen = tl.where((best_s > float("-inf")) & (col[None, :] < num_selected), best_j, NEVER)
    chosen = sort_rows(chosen, col)                                        # ascending, unused last
    chosen = tl.where(chosen == NEVER, -1, chosen)
    out_ptrs = OUT + batch * stride_ob + t_tok[:, None] * stride_ot + kv_head * stride_oh + col[None, :]
    tl.store(out_ptrs, chosen, mask=tok_ok[:, None] & (col[None, :] < num_selected))


def select_blocks_forward(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                          compress_block_size: int, compress_stride: int, select_block_size: int,
                          num_selected_blocks: int, num_init_blocks: int, num_local_blocks: int,
                          scale: float, rows: int = 0, keys_per_chunk: int = 64,
                          num_warps: int = 0, num_stages: int = 2,
                          max_registers: Optional[int] = None, span: int = 16,
                          half_split: bool = True, sorted_topn: Optional[bool] = None,
                          paired_top: Optional[bool] = None):
    """q [B, Tq, Hq, D], k_cmp [B, rows, Hkv, D], lse [B, Tq, Hq] -> [B, Tq, Hkv, n] int32.
    Batched or packed (cu_seqlens, B = 1, the compressed layout of compressed_attention).
    `rows` (query rows of a program: G heads x tokens; 0: 128 on 8 warps for G = 3 or 4, else
    64 on 4), `keys_per_chunk` (KEYS, a power of two),
    `num_warps`, `num_stages`, `max_registers` (common.register_cap; None: 128 up to
    D = 128), `span` (rows of a token span, common.gqa_tile; 0: G heads of one token),
    `half_split` (split_dot's two float16 terms, else three bfloat16), `sorted_topn` (the running
    top-n kept ordered, _absorb's SORTED; None: from the tile, below), `paired_top` (its
    PAIRED_TOP, with sorted rounds only; None: on, except in the interpreter, whose reduction of
    pairs is ~20x slower than its max): tuning knobs
    (benchmarks/sweep_select_blocks.py)."""
    batch, num_queries, num_heads, head_dim = q.shape
    num_kv_heads = k_cmp.shape[2]
    group = num_heads // num_kv_heads
    out = torch.empty((batch, num_queries, num_kv_heads, num_selected_blocks), dtype=torch.int32,
                      device=q.device)
    if out.numel() == 0:
        return out
    if not rows:
        # H200 at 64K, 128 rows on 8 warps against 64 on 4 (benchmarks/results/NVIDIA_H200/
        # session12/): G = 4 3.76 / 4.04 ms; G = 2 2.05 / 1.91; G = 8 7.68 / 7.64; G = 16
        # 14.9 / 14.9; G = 1 1.69 / 1.54.
        wide = triton.next_power_of_2(group) == 4
        rows, num_warps = (128, num_warps or 8) if wide else (64, num_warps or 4)
    num_warps = num_warps or 4
    sizes = block_sizes(group, head_dim, rows)
    if max_registers is None:
        # Uncapped, ptxas takes ~220 registers: 2 programs per SM. Capped at 128 (4 programs,
        # a few spills), H100 at 64K: G = 1 / 4 / 16 from 2.30 / 8.13 / 22.8 ms to 1.78 /
        # 7.03 / 16.9 ms (benchmarks/results/NVIDIA_H100_80GB_HBM3/occupancy/).
        max_registers = 128 if sizes.block_d <= 128 else 0
    units_per_block = select_block_size // compress_stride
    units_per_key = compress_block_size // compress_stride
    keys = max(keys_per_chunk, triton.next_power_of_2(units_per_block + units_per_key - 1))
    blocks_per_chunk = (keys - units_per_key + 1) // units_per_block
    block_b = max(16, triton.next_power_of_2(blocks_per_chunk))
    num_slots = triton.next_power_of_2(num_selected_blocks)
    # A warp's 16 rows of the MMA result lie on 8 lanes x 2 registers: with 16 / GP tokens x GP
    # heads to a span, the head sum is partly in registers, and the top-n state of a token sits
    # on fewer lanes (G = 4: 4 copies of it per warp -> 2).
    # (G = 1: one row per token either way; the plain mapping measured 3% faster at 64K.)
    span = 1 if sizes.group_pow2 == 1 else min(max(span, sizes.group_pow2),
                                               sizes.block_t * sizes.group_pow2)
    if sorted_topn is None:
        # A sorted round searches no worst slot: 55 instructions a round against 73, a chain of
        # 3 shuffles against 4 (offline, sm_90a), but its slots take a layout of their own,
        # two a thread, that the chunk's scores are converted to. H200 at 64K
        # (sweep_select_blocks, session 21), sorted / plain ms: G = 4 3.74 / 3.75, G = 8
        # 7.18 / 7.59, G = 16 13.22 / 14.80; its earlier form was slower at G = 1 and 2 (2.29 /
        # 1.49, 2.54 / 1.91). Sorted where a thread holds at most one slot of the plain layout
        # (G >= 5 at the default tiles).
        sorted_topn = sizes.block_t * num_slots <= 32 * num_warps
    sorted_topn = sorted_topn and num_slots >= 2
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, seqlen_k)
    _select_blocks_fwd[(triton.cdiv(num_queries, sizes.block_t), batch * num_kv_heads)](
        q, k_cmp, lse, out, row_seq, cu_q, cu_k,
        q.stride(0), q.stride(1), q.stride(2),
        k_cmp.stride(0), k_cmp.stride(1), k_cmp.stride(2),
        lse.stride(0), lse.stride(1),
        out.stride(0), out.stride(1), out.stride(2),
        num_queries, k_cmp.shape[1], num_kv_heads, scale * LOG2E,
        compress_block_size, compress_stride, select_block_size, units_per_block, units_per_key,
        blocks_per_chunk, num_selected_blocks, num_init_blocks, num_local_blocks,
        G=group, GP=sizes.group_pow2, SPAN=span, HEAD_DIM=head_dim, BLOCK_T=sizes.block_t,
        BLOCK_D=sizes.block_d, KEYS=keys, BLOCK_B=block_b, NP=num_slots,
        FILL=block_b == num_slots and blocks_per_chunk <= num_selected_blocks, SORTED=sorted_topn,
        PAIRED_TOP=sorted_topn and (not INTERPRETING if paired_top is None else paired_top),
        **dot_modes(q.dtype),
        # Weights up to min(U, R) units: exact in float16 up to 2048, in bfloat16 up to 256.
        # The interpreter's float16 products are right, its bfloat16 ones are not.
        SPLIT_UPCAST=(min(units_per_block, units_per_key) > (2048 if half_split else 256)
                      or (INTERPRETING and not half_split)),
        HALF=half_split,
        num_warps=num_warps, num_stages=num_stages, **register_cap(max_registers),
    )
    return out
