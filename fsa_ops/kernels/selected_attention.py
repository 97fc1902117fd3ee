"""Selected attention, forward, in FSA's loop order (KV block outer, the tokens that picked it
inner), with an exact log-sum-exp merge.

1. `block_index` (PyTorch ops on the device, sizes from shapes only): the (token, slot)
   entries of each kv head are grouped by the key block they name. A block's entries are cut
   into tiles of BLOCK_T tokens; the tile list has at most cdiv(Tq * n, BLOCK_T) + num_groups
   entries, a shape-only bound, so the grid needs no host sync.
2. `_selected_partials`: one program per tile loads its K/V block once and the G query heads
   of its BLOCK_T tokens as one [BLOCK_T * GP, D] tile, and writes a normalised partial output
   with its own log-sum-exp for every (token, slot, head). No shared softmax shift.
3. `_merge_partials`: per token and head, merges the n slots in slot order (deterministic):
   o = sum_s exp(lse_s - lse) o_s with lse = logsumexp_s lse_s.

Partial buffers: Tq * n * Hq * D elements in the input dtype plus Tq * n * Hq float32.

Backward, same order and no atomics (bitwise reproducible):
4. `_selected_bwd_chunks`: one program per chunk of up to CHUNK entries of one group (a block
   picked by many tokens, the forced initial block above all, is split so no program walks
   all T tokens). It loads K/V once, walks its tiles, accumulates dK/dV for the block in
   registers and writes them as a float32 chunk partial, and writes each row's dQ share as a
   per-(token, slot) partial.
5. `_selected_bwd_dq`: per token and head, sums the n slot partials in slot order.
6. `_selected_bwd_dkdv`: per block, sums its chunk partials in chunk order into dK/dV; blocks
   nobody picked get zeros.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from .common import (attention_grads, block_sizes, dot, dot_modes, load_backward_rows, row_dot,
                     sequence_tables)

LOG2E = 1.4426950408889634
LN2 = tl.constexpr(0.6931471805599453)   # kernels read it: must be a constexpr


class BlockIndex(NamedTuple):
    """Work list of one launch; BH = B * Hkv, E = Tq * n, NG = groups bound, W = tiles bound."""
    selection: torch.Tensor   # [B, Tq, Hkv, n] int32: indices sorted per row, -1 first
    order: torch.Tensor       # [BH, E] int32: entries t * n + s grouped by (sequence, block)
    group_end: torch.Tensor   # [BH, NG] int32: end of each group in `order`
    tile_group: torch.Tensor  # [BH, W] int32: group of each tile (NG: no work)
    tile_first: torch.Tensor  # [BH, W] int32: first position of each tile in `order`


def block_index(indices: torch.Tensor, row_seq: torch.Tensor, cu_k: torch.Tensor,
                select_block_size: int, seqlen_k: int, block_t: int) -> BlockIndex:
    """indices [B, Tq, Hkv, n] (any order, repeats allowed, -1 unused) -> BlockIndex.

    A group is one block of one sequence: group = (blocks of earlier sequences) + block, so
    groups never mix sequences. Repeated blocks in a row are kept once. An index that is not a
    block of its row's sequence (only possible with check_values=False) counts as -1, so it
    can neither leave the tensors nor land in another sequence's group.
    """
    batch, num_queries, num_kv_heads, n = indices.shape
    seq_base, seq_blocks = sequence_blocks(cu_k, select_block_size)
    limit = seq_blocks[row_seq.long()][None, :, None, None]
    selection = torch.where((indices >= 0) & (indices < limit), indices, -1).sort(-1).values
    repeat = torch.zeros_like(selection, dtype=torch.bool)
    repeat[..., 1:] = selection[..., 1:] == selection[..., :-1]
    keep = (selection >= 0) & ~repeat

    num_groups = triton.cdiv(seqlen_k, select_block_size) + cu_k.shape[0] - 1
    group = seq_base[row_seq.long()][None, :, None, None] + selection
    key = torch.where(keep, group, num_groups).permute(0, 2, 1, 3).reshape(batch * num_kv_heads, -1)
    key = key.long()
    order = torch.sort(key, dim=1, stable=True).indices.to(torch.int32)

    counts = torch.zeros(key.shape[0], num_groups + 1, dtype=torch.int64, device=indices.device)
    counts.scatter_add_(1, key, torch.ones_like(key))
    group_end = torch.cumsum(counts[:, :num_groups], 1)
    tile_group, tile_first, _ = work_tiles(group_end, block_t, num_queries * n)
    return BlockIndex(selection.to(torch.int32).contiguous(), order.contiguous(),
                      group_end.to(torch.int32).contiguous(), tile_group, tile_first)


def sequence_blocks(cu_k: torch.Tensor, select_block_size: int):
    """(seq_base [S], seq_blocks [S]) int64: group id of each sequence's block 0, block counts."""
    seq_blocks = (cu_k[1:] - cu_k[:-1] + select_block_size - 1).long() // select_block_size
    return torch.cumsum(seq_blocks, 0) - seq_blocks, seq_blocks


def work_tiles(group_end: torch.Tensor, size: int, num_entries: int):
    """Cut every group of `order` into tiles of at most `size` entries.

    group_end [BH, NG] -> (tile_group, tile_first) [BH, W] int32 and tile_end [BH, NG] int32
    (tiles of group g: tile_end[g - 1] .. tile_end[g]). W = cdiv(E, size) + NG bounds the
    tile count from shapes alone; spare tiles have group NG.
    """
    num_groups = group_end.shape[1]
    counts = torch.diff(group_end, dim=1, prepend=torch.zeros_like(group_end[:, :1]))
    tiles = (counts + size - 1) // size
    tile_end = torch.cumsum(tiles, 1)
    num_tiles = triton.cdiv(num_entries, size) + num_groups
    w = torch.arange(num_tiles, device=group_end.device).expand(group_end.shape[0], num_tiles)
    tile_group = torch.searchsorted(tile_end, w.contiguous(), right=True)
    g = tile_group.clamp(max=num_groups - 1)
    tile_first = (group_end - counts).gather(1, g) + (w - (tile_end - tiles).gather(1, g)) * size
    return (tile_group.to(torch.int32).contiguous(), tile_first.to(torch.int32).contiguous(),
            tile_end.to(torch.int32).contiguous())


@triton.jit
def _group_of_tile(SELECTION, ORDER, ROW_SEQ, CU_Q, CU_K, bh, first, batch, kv_head,
                   num_entries, num_selected, stride_sb, stride_st, stride_sh):
    """The block and sequence a tile's group names, read off its first entry:
    (block, q_start, q_len, k_start, k_len)."""
    entry0 = tl.load(ORDER + bh * num_entries + first).to(tl.int64)
    token0 = entry0 // num_selected
    block = tl.load(SELECTION + batch * stride_sb + token0 * stride_st + kv_head * stride_sh
                    + entry0 % num_selected)
    seq = tl.load(ROW_SEQ + token0)
    q_start = tl.load(CU_Q + seq)
    k_start = tl.load(CU_K + seq)
    return block, q_start, tl.load(CU_Q + seq + 1) - q_start, k_start, tl.load(CU_K + seq + 1) - k_start


@triton.jit
def _tile_rows(ORDER, bh, start, end, num_entries, num_selected, G: tl.constexpr,
               GP: tl.constexpr, BLOCK_M: tl.constexpr):
    """Rows of a tile: entry start + m // GP of `order` (up to end), query head member m % GP.
    Returns (entry, token, member, row_ok), entry = token * n + slot, int64."""
    m = tl.arange(0, BLOCK_M)
    slot_row = start + m // GP
    member = m % GP
    row_ok = (slot_row < end) & (member < G)
    entry = tl.load(ORDER + bh * num_entries + slot_row, mask=slot_row < end, other=0).to(tl.int64)
    return entry, entry // num_selected, member, row_ok


@triton.jit
def _selected_partials(
    Q, K, V, O_PART, LSE_PART, SELECTION, ORDER, GROUP_END, TILE_GROUP, TILE_FIRST,
    ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_sb, stride_st, stride_sh,
    num_kv_heads, num_entries, num_groups, num_tiles, num_selected, select_block_size,
    scale_log2,
    G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):
    """Grid (W, B * Hkv). O_PART [BH, E, G, D], LSE_PART [BH, E, G] (log2 units)."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    # Offsets are int64 throughout: the partial buffers pass 2**31 elements at long T.
    tile = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    group = tl.load(TILE_GROUP + bh * num_tiles + tile)
    if group < num_groups:
        first = tl.load(TILE_FIRST + bh * num_tiles + tile)
        end = tl.load(GROUP_END + bh * num_groups + group)
        block, q_start, q_len, k_start, k_len = _group_of_tile(
            SELECTION, ORDER, ROW_SEQ, CU_Q, CU_K, bh, first, batch, kv_head, num_entries,
            num_selected, stride_sb, stride_st, stride_sh)
        entry, token, member, row_ok = _tile_rows(ORDER, bh, first, end, num_entries,
                                                  num_selected, G, GP, BLOCK_M)
        pos = k_len - q_len + (token - q_start)
        d = tl.arange(0, BLOCK_D)
        d_ok = d < HEAD_DIM

        c = tl.arange(0, BLOCK_N)
        rel = block.to(tl.int64) * select_block_size + c        # key position in the sequence
        key_ok = (c < select_block_size) & (rel < k_len)
        kv_offsets = batch * stride_kb + (k_start + rel)[:, None] * stride_kt + kv_head * stride_kh + d[None, :]
        k = tl.load(K + kv_offsets, mask=key_ok[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(V + kv_offsets, mask=key_ok[:, None] & d_ok[None, :], other=0.0)
        q_ptrs = (Q + batch * stride_qb + token[:, None] * stride_qt
                  + (kv_head * G + member)[:, None] * stride_qh + d[None, :])
        q = tl.load(q_ptrs, mask=row_ok[:, None] & d_ok[None, :], other=0.0)

        s = dot(q, tl.trans(k), UPCAST, IEEE) * scale_log2
        visible = key_ok[None, :] & (rel[None, :] <= pos[:, None])
        s = tl.where(visible, s, float("-inf"))
        row_max = tl.max(s, 1)
        shift = tl.where(row_max == float("-inf"), 0.0, row_max)
        p = tl.exp2(s - shift[:, None])
        total = tl.sum(p, 1)
        seen = total > 0
        out = dot(p.to(v.dtype), v, UPCAST, IEEE) / tl.where(seen, total, 1.0)[:, None]
        lse = tl.where(seen, shift + tl.log2(tl.where(seen, total, 1.0)), float("-inf"))

        part = (bh * num_entries + entry) * G + member
        tl.store(O_PART + part[:, None] * HEAD_DIM + d[None, :], out.to(O_PART.dtype.element_ty),
                 mask=row_ok[:, None] & d_ok[None, :])
        tl.store(LSE_PART + part, lse, mask=row_ok)


@triton.jit
def _merge_partials(
    O, LSE, O_PART, LSE_PART,
    stride_ob, stride_ot, stride_oh, stride_lb, stride_lt,
    num_queries, num_kv_heads, num_entries, num_selected,
    G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Grid (cdiv(Tq, BLOCK_T), B * Hkv, G): merge the n slots of each token, in slot order."""
    bh = tl.program_id(1).to(tl.int64)
    member = tl.program_id(2)
    batch = bh // num_kv_heads
    head = (bh % num_kv_heads) * G + member
    token = tl.program_id(0).to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    t_ok = token < num_queries
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM

    part0 = (bh * num_entries + token * num_selected) * G + member       # slot 0 of each token
    top = tl.full([BLOCK_T], float("-inf"), tl.float32)
    for s in range(num_selected):
        top = tl.maximum(top, tl.load(LSE_PART + part0 + s * G, mask=t_ok, other=float("-inf")))
    shift = tl.where(top == float("-inf"), 0.0, top)
    total = tl.zeros([BLOCK_T], tl.float32)
    acc = tl.zeros([BLOCK_T, BLOCK_D], tl.float32)
    for s in range(num_selected):
        lse_s = tl.load(LSE_PART + part0 + s * G, mask=t_ok, other=float("-inf"))
        used = lse_s > float("-inf")
        weight = tl.where(used, tl.exp2(lse_s - shift), 0.0)
        o_s = tl.load(O_PART + (part0 + s * G)[:, None] * HEAD_DIM + d[None, :],
                      mask=used[:, None] & d_ok[None, :], other=0.0)
        acc += tl.where(used[:, None], o_s.to(tl.float32) * weight[:, None], 0.0)
        total += weight
    seen = total > 0
    out = acc / tl.where(seen, total, 1.0)[:, None]
    lse = tl.where(seen, (shift + tl.log2(tl.where(seen, total, 1.0))) * LN2, float("-inf"))
    o_ptrs = O + batch * stride_ob + token[:, None] * stride_ot + head * stride_oh + d[None, :]
    tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=t_ok[:, None] & d_ok[None, :])
    tl.store(LSE + batch * stride_lb + token * stride_lt + head, lse, mask=t_ok)


def selected_attention_forward(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                               select_block_size: int, scale: float, rows: int = 64,
                               num_warps: int = 4):
    """q [B, Tq, Hq, D], k/v [B, Tk, Hkv, D], indices [B, Tq, Hkv, n] ->
    (o [B, Tq, Hq, D], lse [B, Tq, Hq] float32). `rows` (query rows per tile, G heads x
    BLOCK_T tokens) and `num_warps` are tuning knobs (benchmarks/sweep_selected.py)."""
    batch, num_queries, num_heads, head_dim = q.shape
    num_kv_heads, n = k.shape[2], indices.shape[3]
    group = num_heads // num_kv_heads
    o = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
    if o.numel() == 0:
        return o, lse.fill_(float("-inf"))
    sizes = block_sizes(group, head_dim, rows)
    block_n = max(16, triton.next_power_of_2(select_block_size))
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, k.shape[1])
    index = block_index(indices, row_seq, cu_k, select_block_size, k.shape[1], sizes.block_t)
    bh, num_entries = index.order.shape
    num_groups, num_tiles = index.group_end.shape[1], index.tile_group.shape[1]
    o_part = torch.empty((bh, num_entries, group, head_dim), dtype=q.dtype, device=q.device)
    lse_part = torch.full((bh, num_entries, group), float("-inf"), dtype=torch.float32,
                          device=q.device)
    _selected_partials[(num_tiles, bh)](
        q, k, v, o_part, lse_part, index.selection, index.order, index.group_end,
        index.tile_group, index.tile_first, row_seq, cu_q, cu_k,
        q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2),
        index.selection.stride(0), index.selection.stride(1), index.selection.stride(2),
        num_kv_heads, num_entries, num_groups, num_tiles, n, select_block_size,
        scale * LOG2E,
        G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim,
        BLOCK_T=sizes.block_t, BLOCK_N=block_n, BLOCK_D=sizes.block_d,
        **dot_modes(q.dtype),
        num_warps=num_warps, num_stages=1,
    )
    merge_t = 32
    _merge_partials[(triton.cdiv(num_queries, merge_t), bh, group)](
        o, lse, o_part, lse_part,
        o.stride(0), o.stride(1), o.stride(2), lse.stride(0), lse.stride(1),
        num_queries, num_kv_heads, num_entries, n,
        G=group, HEAD_DIM=head_dim, BLOCK_T=merge_t, BLOCK_D=sizes.block_d, num_warps=4,
    )
    return o, lse


@triton.jit
def _selected_bwd_chunks(
    Q, K, V, DO, LSE, DELTA, DQ_PART, DK_PART, DV_PART,
    SELECTION, ORDER, GROUP_END, CHUNK_GROUP, CHUNK_FIRST, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_lb, stride_lt,
    stride_sb, stride_st, stride_sh,
    num_kv_heads, num_entries, num_groups, num_chunks, num_selected, select_block_size,
    chunk_entries, scale, scale_log2,
    G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):
    """Grid (C, B * Hkv). Q, DO [B, Tq, Hq, D]; LSE, DELTA [B, Tq, Hq] float32 (LSE natural
    log, of the whole selected branch); DQ_PART [BH, E, G, D] (q dtype); DK_PART, DV_PART
    [BH, C, BLOCK_N, D] float32."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    chunk = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    group = tl.load(CHUNK_GROUP + bh * num_chunks + chunk)
    if group < num_groups:
        first = tl.load(CHUNK_FIRST + bh * num_chunks + chunk)
        end = tl.minimum(tl.load(GROUP_END + bh * num_groups + group), first + chunk_entries)
        block, q_start, q_len, k_start, k_len = _group_of_tile(
            SELECTION, ORDER, ROW_SEQ, CU_Q, CU_K, bh, first, batch, kv_head, num_entries,
            num_selected, stride_sb, stride_st, stride_sh)
        d = tl.arange(0, BLOCK_D)
        d_ok = d < HEAD_DIM
        c = tl.arange(0, BLOCK_N)
        rel = block.to(tl.int64) * select_block_size + c        # key position in the sequence
        key_ok = (c < select_block_size) & (rel < k_len)
        kv_offsets = batch * stride_kb + (k_start + rel)[:, None] * stride_kt + kv_head * stride_kh + d[None, :]
        k = tl.load(K + kv_offsets, mask=key_ok[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(V + kv_offsets, mask=key_ok[:, None] & d_ok[None, :], other=0.0)

        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        for start in range(first, end, BLOCK_T):
            entry, token, member, row_ok = _tile_rows(ORDER, bh, start, end, num_entries,
                                                      num_selected, G, GP, BLOCK_M)
            pos = k_len - q_len + (token - q_start)
            q, do, lse2, delta, _, row_mask = load_backward_rows(
                Q, DO, LSE, DELTA, batch, token, kv_head * G + member, row_ok, d, d_ok,
                stride_qb, stride_qt, stride_qh, stride_lb, stride_lt)
            visible = row_ok[:, None] & key_ok[None, :] & (rel[None, :] <= pos[:, None])
            p, ds = attention_grads(q, do, k, v, lse2, delta, visible, scale_log2, UPCAST, IEEE)
            dv += dot(tl.trans(p.to(do.dtype)), do, UPCAST, IEEE)
            dk += dot(tl.trans(ds.to(q.dtype)), q, UPCAST, IEEE)
            dq = dot(ds.to(k.dtype), k, UPCAST, IEEE) * scale
            part = (bh * num_entries + entry) * G + member
            tl.store(DQ_PART + part[:, None] * HEAD_DIM + d[None, :],
                     dq.to(DQ_PART.dtype.element_ty), mask=row_mask)

        chunk_offsets = ((bh * num_chunks + chunk) * BLOCK_N + c)[:, None] * HEAD_DIM + d[None, :]
        chunk_mask = (c < select_block_size)[:, None] & d_ok[None, :]
        tl.store(DK_PART + chunk_offsets, dk * scale, mask=chunk_mask)
        tl.store(DV_PART + chunk_offsets, dv, mask=chunk_mask)


@triton.jit
def _selected_bwd_dq(
    DQ, DQ_PART, SELECTION,
    stride_qb, stride_qt, stride_qh, stride_sb, stride_st, stride_sh,
    num_queries, num_kv_heads, num_entries, num_selected,
    G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Grid (cdiv(Tq, BLOCK_T), B * Hkv, G): dQ = sum of the slot partials, in slot order,
    over the slots the forward used (a valid block, not a repeat of the slot before it)."""
    bh = tl.program_id(1).to(tl.int64)
    member = tl.program_id(2)
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    token = tl.program_id(0).to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    t_ok = token < num_queries
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    sel_ptrs = SELECTION + batch * stride_sb + token * stride_st + kv_head * stride_sh
    part0 = (bh * num_entries + token * num_selected) * G + member
    previous = tl.full([BLOCK_T], -1, tl.int32)
    acc = tl.zeros([BLOCK_T, BLOCK_D], tl.float32)
    for s in range(num_selected):
        block = tl.load(sel_ptrs + s, mask=t_ok, other=-1)
        used = (block >= 0) & (block != previous)
        acc += tl.load(DQ_PART + (part0 + s * G)[:, None] * HEAD_DIM + d[None, :],
                       mask=used[:, None] & d_ok[None, :], other=0.0).to(tl.float32)
        previous = block
    head = kv_head * G + member
    tl.store(DQ + batch * stride_qb + token[:, None] * stride_qt + head * stride_qh + d[None, :],
             acc.to(DQ.dtype.element_ty), mask=t_ok[:, None] & d_ok[None, :])


@triton.jit
def _selected_bwd_dkdv(
    DK, DV, DK_PART, DV_PART, CHUNK_END, GROUP_SEQ, GROUP_BLOCK, CU_K,
    stride_kb, stride_kt, stride_kh,
    num_kv_heads, num_groups, num_chunks, num_seqs, select_block_size,
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Grid (NG, B * Hkv): the keys of group g (block GROUP_BLOCK[g] of sequence
    GROUP_SEQ[g]) get the sum of the group's chunk partials, chunks CHUNK_END[g-1]..[g]."""
    g = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    seq = tl.load(GROUP_SEQ + g)
    if seq < num_seqs:
        batch = bh // num_kv_heads
        kv_head = bh % num_kv_heads
        k_start = tl.load(CU_K + seq)
        k_len = tl.load(CU_K + seq + 1) - k_start
        c = tl.arange(0, BLOCK_N)
        rel = tl.load(GROUP_BLOCK + g).to(tl.int64) * select_block_size + c
        key_ok = (c < select_block_size) & (rel < k_len)
        d = tl.arange(0, BLOCK_D)
        d_ok = d < HEAD_DIM
        chunk_lo = tl.load(CHUNK_END + bh * num_groups + g - 1, mask=g > 0, other=0)
        chunk_hi = tl.load(CHUNK_END + bh * num_groups + g)
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        for chunk in range(chunk_lo, chunk_hi):
            offsets = ((bh * num_chunks + chunk) * BLOCK_N + c)[:, None] * HEAD_DIM + d[None, :]
            mask = key_ok[:, None] & d_ok[None, :]
            dk += tl.load(DK_PART + offsets, mask=mask, other=0.0)
            dv += tl.load(DV_PART + offsets, mask=mask, other=0.0)
        kv_offsets = batch * stride_kb + (k_start + rel)[:, None] * stride_kt + kv_head * stride_kh + d[None, :]
        tl.store(DK + kv_offsets, dk.to(DK.dtype.element_ty), mask=key_ok[:, None] & d_ok[None, :])
        tl.store(DV + kv_offsets, dv.to(DV.dtype.element_ty), mask=key_ok[:, None] & d_ok[None, :])


def selected_attention_backward(do, q, k, v, indices, o, lse, cu_seqlens_q, cu_seqlens_k,
                                select_block_size: int, scale: float, rows: int = 0,
                                num_warps: int = 0, chunk_entries: int = 1024):
    """do, q, o [B, Tq, Hq, D]; k, v [B, Tk, Hkv, D]; indices [B, Tq, Hkv, n]; lse [B, Tq, Hq]
    float32 from the forward -> (dq, dk, dv). All tensors contiguous. `chunk_entries` (a
    multiple of the tile's tokens) bounds the (token, slot) entries one program walks.

    Workspace: dQ partials Tq * n * Hq * D in q's dtype; dK/dV chunk partials
    2 * B * Hkv * (cdiv(Tq * n, chunk_entries) + NG) * l' * D float32.
    """
    batch, num_queries, num_heads, head_dim = q.shape
    seqlen_k, num_kv_heads, n = k.shape[1], k.shape[2], indices.shape[3]
    group = num_heads // num_kv_heads
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    if dq.numel() == 0 or dk.numel() == 0:
        return dq.zero_(), dk.zero_(), dv.zero_()
    # Rows per tile: 64 with 4 warps, or 32 with 8 warps past D = 128 (q, dO, K, V tiles and
    # two float32 accumulators must fit the SM). H100 sweep: benchmarks/results/.../tuning/.
    sizes = block_sizes(group, head_dim, rows or (64 if head_dim <= 128 else 32))
    num_warps = num_warps or (4 if head_dim <= 128 else 8)
    block_n = max(16, triton.next_power_of_2(select_block_size))
    chunk_entries = max(sizes.block_t, chunk_entries // sizes.block_t * sizes.block_t)
    delta = row_dot(do, o)
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, seqlen_k)
    index = block_index(indices, row_seq, cu_k, select_block_size, seqlen_k, sizes.block_t)
    bh, num_entries = index.order.shape
    num_groups = index.group_end.shape[1]
    chunk_group, chunk_first, chunk_end = work_tiles(index.group_end, chunk_entries, num_entries)
    num_chunks = chunk_group.shape[1]

    dq_part = torch.empty((bh, num_entries, group, head_dim), dtype=q.dtype, device=q.device)
    dk_part = torch.empty((bh, num_chunks, block_n, head_dim), dtype=torch.float32, device=q.device)
    dv_part = torch.empty_like(dk_part)
    _selected_bwd_chunks[(num_chunks, bh)](
        q, k, v, do, lse, delta, dq_part, dk_part, dv_part,
        index.selection, index.order, index.group_end, chunk_group, chunk_first,
        row_seq, cu_q, cu_k,
        q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2),
        lse.stride(0), lse.stride(1),
        index.selection.stride(0), index.selection.stride(1), index.selection.stride(2),
        num_kv_heads, num_entries, num_groups, num_chunks, n, select_block_size,
        chunk_entries, scale, scale * LOG2E,
        G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim,
        BLOCK_T=sizes.block_t, BLOCK_N=block_n, BLOCK_D=sizes.block_d,
        **dot_modes(q.dtype), num_warps=num_warps, num_stages=1,
    )
    reduce_t = 32
    _selected_bwd_dq[(triton.cdiv(num_queries, reduce_t), bh, group)](
        dq, dq_part, index.selection,
        dq.stride(0), dq.stride(1), dq.stride(2),
        index.selection.stride(0), index.selection.stride(1), index.selection.stride(2),
        num_queries, num_kv_heads, num_entries, n,
        G=group, HEAD_DIM=head_dim, BLOCK_T=reduce_t, BLOCK_D=sizes.block_d, num_warps=4,
    )
    seq_base, seq_blocks = sequence_blocks(cu_k, select_block_size)
    groups = torch.arange(num_groups, device=q.device)
    group_seq = torch.searchsorted(torch.cumsum(seq_blocks, 0), groups, right=True)
    num_seqs = seq_blocks.shape[0]
    group_block = groups - seq_base[group_seq.clamp(max=num_seqs - 1)]
    _selected_bwd_dkdv[(num_groups, bh)](
        dk, dv, dk_part, dv_part, chunk_end, group_seq.to(torch.int32), group_block.to(torch.int32),
        cu_k, k.stride(0), k.stride(1), k.stride(2),
        num_kv_heads, num_groups, num_chunks, num_seqs, select_block_size,
        HEAD_DIM=head_dim, BLOCK_N=block_n, BLOCK_D=sizes.block_d, num_warps=4,
    )
    return dq, dk, dv
