"""Selected attention, forward and backward, in FSA's loop order (KV block outer, the tokens
that picked it inner), with an exact log-sum-exp merge.

1. `block_index` (on the device, sizes from shapes only): `_index_entries` sorts each row
   of indices (by rank) and keys its (token, slot) entries, and one stable sort orders the
   entries of each kv head by (token chunk, block). A token chunk is C consecutive query
   rows; a group is one block of one sequence, so groups never mix sequences. `work_list`
   cuts every (chunk, group) run into pieces of at most `size` entries; the number of pieces
   has a shape-only bound, so no launch needs a host sync.
2. `_selected_partials`, once per token chunk: one program per piece loads its K/V block
   once, walks the piece in tiles of BLOCK_T tokens (their G query heads stacked into one
   [BLOCK_T * GP, D] tile) and writes, for every (token, slot, head), a partial output
   o_s = sum_j exp(s_j - m_s) v_j with its own shift m_s (log2(BLOCK_N) above its row max)
   and log-sum-exp lse_s. No shared softmax shift.
3. `_merge_partials`, once per token chunk: per token and head, merges the slots the forward
   used in slot order (deterministic): lse = logsumexp_s lse_s, o = sum_s exp(m_s - lse) o_s.
   With `overlap_merge` (the default at G = 3, 4 over several chunks) the partials alternate
   between two buffers and chunk c's merge runs in the launch of chunk c + 1's partials
   (`_partials_and_merge`): the merge streams partials while the partials programs wait on
   their gathers. Same arithmetic, same bits.

Why token chunks: the partial buffers hold C * n * Hq * D elements, not Tq * n * Hq * D (at
64K tokens, G = 16, bf16: 17 GiB). The backward pays per chunk (its dK/dV sums) but holds
the NSA layer's memory peak, so its chunks hold about BACKWARD_WORKSPACE_BYTES of partials
(backward_chunk_tokens). The forward takes the same chunks, or smaller ones where a chunk's
q rows would not stay in L2 (forward_chunk_tokens): smaller chunks cost it little.

Why the backward builds its block index again instead of taking the forward's (issue 4 asked
for reuse "if it pays"; it does not). One build (`_index_entries`, a radix sort of the keys,
`_index_finish`) takes about 0.4 ms at 64K tokens, D = 128: `_index_entries` 0.17 and the sort
0.17 ms a build in the NSA layer's 30.9 ms of fwd+bwd kernels at G = 4 (H200, session 28).
Reuse would save 1.3% of that step; ~10% of the selected branch's fwd+bwd alone at G = 1 (4.16
ms, H100, session 27), a target already met; nothing at G >= 8, where the fwd+bwd target is
missed: there the forward's chunks are smaller than the backward's (L2), so one index cannot
serve both (at G = 16 the backward in the forward's 2K chunks would take 32 chunks, not 8, and
every extra chunk costs it 0.2-0.6 ms of dK/dV sums: MAX_CHUNKS' note). The price: the op
contract takes index tensors as an input (or returns them), and every kernel that reads them
must then stay in bounds on tensors it did not build (clamps in `_piece`, `_rows_of`,
`_block_keys`, `_piece_slot` and `_selected_bwd_dkdv`), or trust an input a caller can break.
The work list is not shared either way: the backward cuts pieces of ~1024 entries, the forward
of 8 tiles.

Backward, same order and no atomics (bitwise reproducible), once per token chunk:
4. `_selected_bwd_chunks`: one program per piece (a block picked by many tokens, the forced
   initial block above all, is split so no program walks all its tokens) loads K/V once,
   walks its tiles, accumulates dK/dV for the block in registers and writes each row's dQ
   share as a per-(token, slot) partial. A block's only piece in the chunk adds its dK/dV to
   the float32 sums of the chunks before (the last chunk: writes dK/dV) itself; the pieces of
   a block cut in several write float32 piece partials (`piece_slots`).
5. `_selected_bwd_dq`: per token and head, sums the used slots' partials in slot order.
6. `_selected_bwd_dkdv`: per block cut in several pieces, sums them in order and adds the
   result to the sums, as a sole piece does; in the last chunk, blocks without a piece write
   their sums (nobody picked them: zeros).

`deterministic=False` (opt-in): step 4 alone, over one chunk of all tokens, adding dQ and
each piece's dK/dV into float32 accumulators with atomics. It needs no partials, sums or
chunks (workspace: float32 copies of dQ, dK, dV), at the price of bitwise reproducibility.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import triton
import triton.language as tl

from .common import (block_sizes, dot, dot_modes, load_backward_rows, load_row_stats,
                     recomputed_probabilities, register_cap, row_dot, sequence_tables, sort_rows)

LOG2E = 1.4426950408889634
LN2 = tl.constexpr(0.6931471805599453)   # kernels read it: must be a constexpr
# Default partial workspace: the whole call's partials split into equal token chunks, as many
# as MIN_WORKSPACE_BYTES goes into them (rounded to the nearest whole number, 1 to MAX_CHUNKS).
# Every extra chunk costs the backward time: float32 dK/dV sums and piece partials read and
# written, ~0.6 ms at 64K on an H100 (benchmarks/results/NVIDIA_H100_80GB_HBM3/tuning/); since a
# block's only piece adds to the sums itself, ~0.23 ms at G = 4 on an H200 (session 22). Hence
# rounding, not ceiling: at G = 1 the 64K call's 1.03 GiB of partials took two chunks, one of
# them 3% full, and one chunk is 15% faster in the backward (H200, session 14).
MAX_CHUNKS = 4
MIN_WORKSPACE_BYTES = 1 << 30
# The deterministic backward's default, where the forward takes several chunks: half their
# size, up to twice as many. Its dQ partials are the NSA layer's memory peak: at 64K, G = 4,
# 8 chunks of 0.5 GiB instead of 4 of 1 GiB took the layer's fwd+bwd from 3.44 to 2.39 GiB (with
# the compressed branch's backward moved before it; SDPA's: 1.63) for ~0.95 ms. A call the
# forward does in one chunk stays one: at G = 1 two chunks saved 0.5 GiB for +23% (3.12 ms
# against 2.54). H200, session 23.
BACKWARD_MAX_CHUNKS = 8
BACKWARD_WORKSPACE_BYTES = 1 << 29
SLOTS_IN_FLIGHT = 4          # slot partials the reduction kernels load at once
# The forward's chunks keep one kv head's q rows of a chunk within this many bytes (L2 holds
# them while the partials stream through: forward_chunk_tokens).
Q_ROWS_BYTES = 8 << 20
INDEX_BLOCK = 1024           # entries, groups or pieces per program of the index kernels


class BlockIndex(NamedTuple):
    """Entries of one call; BH = B * Hkv, E = Tq * n, NC token chunks of `chunk_tokens` rows,
    NG groups per chunk. Entry t * n + s is slot s of token t; group c * NG + g is block g
    (counted over the sequences) as picked by the tokens of chunk c."""
    selection: torch.Tensor   # [B, Tq, Hkv, n] int32: indices sorted per row, -1 first
    order: torch.Tensor       # [BH, E] int32: entries by group, in token order within one
    group_end: torch.Tensor   # [BH, NC * NG] int32: end of each group in `order`
    chunk_tokens: int
    num_chunks: int
    group_seq: torch.Tensor   # [NG] int32: the sequence of group g (S: none, past the last)
    group_block: torch.Tensor  # [NG] int32: its block in that sequence


class WorkList(NamedTuple):
    """`order` cut into pieces of at most `size` entries, never across a group; W bounds the
    piece count from shapes alone."""
    group: torch.Tensor        # [BH, W] int32: group of each piece (NC * NG: no work)
    first: torch.Tensor        # [BH, W] int32: first position of each piece in `order`
    piece_end: torch.Tensor    # [BH, NC * NG] int32: pieces of group k: piece_end[k - 1] ..
    chunk_start: torch.Tensor  # [BH, NC + 1] int32: pieces of chunk c: [c] .. [c + 1]
    per_chunk: int             # bound on the pieces of one chunk: cdiv(C * n, size) + NG
    slot_end: torch.Tensor     # [BH, NC * NG] int32: piece_slots' part_end
    slot_chunk_start: torch.Tensor  # [BH, NC + 1] int32: piece_slots' chunk_start


def partial_bytes(q: torch.Tensor, num_selected: int) -> int:
    """Bytes of partials per token: n * Hq rows of D elements in q's dtype and two float32."""
    return num_selected * q.shape[2] * (q.shape[3] * q.element_size() + 8)


def chunk_tokens_for(q: torch.Tensor, num_selected: int, workspace_bytes: int = 0,
                     default_bytes: int = MIN_WORKSPACE_BYTES, max_chunks: int = MAX_CHUNKS) -> int:
    """Tokens per chunk, a multiple of 64 (at least 64, at most Tq): as many as
    `workspace_bytes` of partials hold; by default Tq split into equal chunks, round(partials /
    default_bytes) of them, at least 1 and at most max_chunks."""
    num_queries, per_token = q.shape[1], partial_bytes(q, num_selected)
    if workspace_bytes:
        tokens = workspace_bytes // per_token // 64 * 64
    else:
        total = num_queries * per_token
        chunks = min(max_chunks, max(1, (total + default_bytes // 2) // default_bytes))
        tokens = triton.cdiv(triton.cdiv(num_queries, chunks), 64) * 64
    return min(max(1, num_queries), max(64, tokens))


def backward_chunk_tokens(q: torch.Tensor, num_selected: int, workspace_bytes: int = 0) -> int:
    """Tokens per chunk of the deterministic backward: chunk_tokens_for's, but where that
    splits the call by default, chunks of BACKWARD_WORKSPACE_BYTES (at most
    BACKWARD_MAX_CHUNKS)."""
    tokens = chunk_tokens_for(q, num_selected, workspace_bytes)
    if workspace_bytes or tokens >= q.shape[1]:
        return tokens
    return chunk_tokens_for(q, num_selected, 0, BACKWARD_WORKSPACE_BYTES, BACKWARD_MAX_CHUNKS)


def forward_chunk_tokens(q: torch.Tensor, k: torch.Tensor, num_selected: int,
                         workspace_bytes: int = 0, overlap: bool = False) -> int:
    """q [B, Tq, Hq, D], k [B, Tk, Hkv, D] -> tokens per chunk of the forward. With
    `workspace_bytes`: what it holds (half of it with `overlap`, whose two partial buffers must
    fit it together). By default the backward's (backward_chunk_tokens), except that a call cut
    in chunks anyway takes chunks whose q rows of one kv head (C * G * D elements) fit in
    Q_ROWS_BYTES: its programs gather those rows from L2 (G = 8, 16 at 64K: 4K and 2K tokens
    instead of 8K). 64K tokens, bf16, D = 128, H100 (session 28), forward ms and workspace
    peak, the old default (round(partials / 1 GiB) chunks) -> the backward's chunks -> the
    L2 cap: G = 2: 2.880 -> 2.829 ms, 1.44 -> 0.92 GiB; G = 4: unchanged (8K chunks, merge
    overlapped); G = 8: 9.572 -> 9.504 -> 9.276 ms, 2.85 -> 1.82 -> 1.31 GiB; G = 16: 18.537
    -> 18.080 -> 17.286 ms, 5.42 -> 3.36 -> 1.82 GiB. At G = 2, 4K chunks took 3.471 ms."""
    if workspace_bytes:
        return chunk_tokens_for(q, num_selected,
                                max(1, workspace_bytes // 2) if overlap else workspace_bytes)
    tokens = backward_chunk_tokens(q, num_selected)
    if tokens >= q.shape[1]:
        return tokens
    group = q.shape[2] // k.shape[2]
    fit = Q_ROWS_BYTES // (group * q.shape[3] * q.element_size()) // 64 * 64
    return max(64, min(tokens, fit))


@triton.jit
def _index_entries(INDICES, ROW_SEQ, SEQ_BASE, SEQ_BLOCKS, SELECTION, KEYS,
                   stride_ib, stride_it, stride_ih,
                   num_queries, num_kv_heads, num_selected, chunk_tokens, num_groups, num_keys,
                   span, NP: tl.constexpr, BLOCK_T: tl.constexpr):
    """Grid (cdiv(Tq, BLOCK_T), B * Hkv). INDICES [B, Tq, Hkv, n] (any order, repeats, -1;
    unit stride over n) ->
    SELECTION [B, Tq, Hkv, n] int32 (contiguous), each row sorted with -1 first, and KEYS
    [B * Hkv, Tq * n] (int32, or int64 where B * Hkv * span passes 2**31): entry t * n + s's
    group chunk * NG + block, or num_keys when the kernels skip it (-1, outside its sequence,
    or a repeat of the slot before), plus bh * span (span = num_keys + 1), so that one flat
    sort orders every row's entries and keeps the rows apart."""
    BIG: tl.constexpr = 2147483647
    bh = tl.program_id(1).to(tl.int64)
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    token = tl.program_id(0).to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    t_ok = token < num_queries
    col = tl.arange(0, NP)
    row_ok = t_ok[:, None] & (col < num_selected)[None, :]
    seq = tl.load(ROW_SEQ + token, mask=t_ok, other=0)
    raw = tl.load(INDICES + batch * stride_ib + token[:, None] * stride_it + kv_head * stride_ih
                  + col[None, :], mask=row_ok, other=-1)
    ok = (raw >= 0) & (raw < tl.load(SEQ_BLOCKS + seq, mask=t_ok, other=0)[:, None])
    # Padding columns sort last (BIG), so columns < n hold the row's sorted selection.
    value = tl.where(col[None, :] < num_selected, tl.where(ok, raw, -1), BIG)
    sel = sort_rows(value, col)
    # A repeat equals an earlier column of its sorted row.
    same = (sel[:, :, None] == sel[:, None, :]) & (col[None, None, :] < col[None, :, None])
    keep = (sel >= 0) & (sel != BIG) & (tl.max(same.to(tl.int32), 2) == 0)
    group = ((token // chunk_tokens) * num_groups
             + tl.load(SEQ_BASE + seq, mask=t_ok, other=0))[:, None] + sel
    tl.store(SELECTION + ((batch * num_queries + token[:, None]) * num_kv_heads + kv_head)
             * num_selected + col[None, :], sel, mask=row_ok)
    tl.store(KEYS + bh * num_queries * num_selected + token[:, None] * num_selected + col[None, :],
             (tl.where(keep, group, num_keys) + bh * span).to(KEYS.dtype.element_ty), mask=row_ok)


def block_index(indices: torch.Tensor, row_seq: torch.Tensor, cu_k: torch.Tensor,
                select_block_size: int, seqlen_k: int, chunk_tokens: int) -> BlockIndex:
    """indices [B, Tq, Hkv, n] (any order, repeats allowed, -1 unused) -> BlockIndex.

    Repeated blocks in a row are kept once. An index that is not a block of its row's
    sequence (only possible with check_values=False) counts as -1, so it can neither leave
    the tensors nor land in another sequence's group. One kernel sorts the rows and keys the
    entries, one stable sort of the keys orders them (entries of a group in token order, which
    the backward's dK/dV sums follow), and the group ends are looked up in the sorted keys.
    """
    batch, num_queries, num_kv_heads, n = indices.shape
    device = indices.device
    indices = indices.contiguous()
    seq_base, seq_blocks, seq_end = sequence_blocks(cu_k, select_block_size)
    num_groups = triton.cdiv(seqlen_k, select_block_size) + cu_k.shape[0] - 1
    num_chunks = triton.cdiv(num_queries, chunk_tokens)
    num_keys = num_chunks * num_groups
    rows, num_entries = batch * num_kv_heads, num_queries * n
    span = num_keys + 1
    selection = torch.empty((batch, num_queries, num_kv_heads, n), dtype=torch.int32, device=device)
    keys = torch.empty((rows, num_entries), device=device,
                       dtype=torch.int32 if rows * span < 2**31 else torch.int64)
    block_t = 32                 # [32, n, n] comparisons: 128 registers a thread at 4 warps
    _index_entries[(triton.cdiv(num_queries, block_t), rows)](
        indices, row_seq, seq_base, seq_blocks, selection, keys,
        indices.stride(0), indices.stride(1), indices.stride(2),
        num_queries, num_kv_heads, n, chunk_tokens, num_groups, num_keys, span,
        NP=triton.next_power_of_2(n), BLOCK_T=block_t, num_warps=4)
    flat, flat_order = torch.sort(keys.view(-1), stable=True)
    order = torch.empty((rows, num_entries), dtype=torch.int32, device=device)
    group_end = torch.empty((rows, num_keys), dtype=torch.int32, device=device)
    group_seq, group_block = (torch.empty(num_groups, dtype=torch.int32, device=device)
                              for _ in range(2))
    num_seqs = seq_base.shape[0]
    _index_finish[(triton.cdiv(max(num_entries, num_keys), INDEX_BLOCK), rows)](
        flat, flat_order, order, group_end, seq_base, seq_end, group_seq, group_block,
        num_entries, num_keys, span, num_groups, num_seqs, max(1, num_entries.bit_length()),
        max(1, num_seqs.bit_length()), BLOCK=INDEX_BLOCK, num_warps=4)
    return BlockIndex(selection, order, group_end, chunk_tokens, num_chunks, group_seq, group_block)


@triton.jit
def _binary_search(SORTED, length, value, steps, BLOCK: tl.constexpr):
    """How many of SORTED[0 .. length) (non-decreasing) are <= value, for each of the BLOCK
    values; `steps` >= bit_length(length) halvings."""
    lo = tl.zeros([BLOCK], tl.int32)
    hi = lo + length
    for _ in range(steps):
        active = lo < hi
        mid = (lo + hi) // 2
        right = tl.load(SORTED + tl.minimum(mid, length - 1), mask=active, other=0) <= value
        lo = tl.where(active & right, mid + 1, lo)
        hi = tl.where(active & ~right, mid, hi)
    return lo


@triton.jit
def _index_finish(FLAT, FLAT_ORDER, ORDER, GROUP_END, SEQ_BASE, SEQ_END, GROUP_SEQ,
                  GROUP_BLOCK, num_entries, num_keys, span, num_groups, num_seqs, steps, seq_steps,
                  BLOCK: tl.constexpr):
    """Grid (cdiv(max(E, NK), BLOCK), B * Hkv), after the flat sort of the keys (FLAT [rows * E]
    sorted, FLAT_ORDER int64 their positions): ORDER [rows, E] int32, the row's entries in
    sorted order; GROUP_END [rows, NK] int32, the end of group k in ORDER, i.e. how many of
    the row's sorted keys are <= bh * span + k. Row 0 also writes GROUP_SEQ and GROUP_BLOCK
    [NG]: the sequence whose blocks hold group g (the first one that ends after it; S past the
    last) and the block's number in it (SEQ_BASE, SEQ_END [S]: sequence_blocks)."""
    row = tl.program_id(1).to(tl.int64)
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if (row == 0) & (tl.program_id(0) * BLOCK < num_groups):
        lo = _binary_search(SEQ_END, num_seqs, i, seq_steps, BLOCK)
        base = tl.load(SEQ_BASE + tl.minimum(lo, num_seqs - 1))
        tl.store(GROUP_SEQ + i, lo, mask=i < num_groups)
        tl.store(GROUP_BLOCK + i, (i - base).to(tl.int32), mask=i < num_groups)
    entry_ok = i < num_entries
    position = tl.load(FLAT_ORDER + row * num_entries + i, mask=entry_ok, other=0)
    tl.store(ORDER + row * num_entries + i, (position - row * num_entries).to(tl.int32),
             mask=entry_ok)
    if tl.program_id(0) * BLOCK < num_keys:
        end = _binary_search(FLAT + row * num_entries, num_entries, row * span + i, steps, BLOCK)
        tl.store(GROUP_END + row * num_keys + i, end, mask=i < num_keys)


def sequence_blocks(cu_k: torch.Tensor, select_block_size: int):
    """(seq_base, seq_blocks, seq_end) [S] int32: the group id of each sequence's block 0, its
    block count, and the group id past its last block."""
    seq_blocks = torch.div(torch.diff(cu_k) + (select_block_size - 1), select_block_size,
                           rounding_mode="floor").to(torch.int32)
    seq_end = torch.cumsum(seq_blocks, 0, dtype=torch.int32)
    return seq_end - seq_blocks, seq_blocks, seq_end


def work_list(index: BlockIndex, size: int) -> WorkList:
    """Cut every group of `index.order` into pieces of at most `size` entries (module doc).
    Two launches, whatever the shapes: a scan per row, then a search per piece."""
    group_end = index.group_end
    rows, num_keys = group_end.shape
    num_groups = num_keys // index.num_chunks
    num_pieces = triton.cdiv(index.order.shape[1], size) + num_keys
    device = group_end.device
    piece_end, slot_end = (torch.empty_like(group_end) for _ in range(2))
    chunk_start, slot_chunk_start = (
        torch.empty((rows, index.num_chunks + 1), dtype=torch.int32, device=device) for _ in range(2))
    _work_scan[(rows,)](group_end, piece_end, chunk_start, slot_end, slot_chunk_start,
                        num_keys, num_groups, size, BLOCK=INDEX_BLOCK, num_warps=4)
    group, first = (torch.empty((rows, num_pieces), dtype=torch.int32, device=device)
                    for _ in range(2))
    _work_pieces[(triton.cdiv(num_pieces, INDEX_BLOCK), rows)](
        group_end, piece_end, group, first, num_keys, num_pieces, size, num_keys.bit_length(),
        BLOCK=INDEX_BLOCK, num_warps=4)
    per_chunk = triton.cdiv(index.chunk_tokens * index.selection.shape[3], size) + num_groups
    return WorkList(group, first, piece_end, chunk_start, per_chunk, slot_end, slot_chunk_start)


@triton.jit
def _work_scan(GROUP_END, PIECE_END, CHUNK_START, SLOT_END, SLOT_CHUNK_START,
               num_keys, num_groups, size, BLOCK: tl.constexpr):
    """Grid (B * Hkv,): per row of GROUP_END [rows, NK], in blocks of BLOCK groups with the sums
    carried: PIECE_END (the running count of pieces, cdiv(entries, size) a group) and
    SLOT_END (the same over groups cut in several: piece_slots), and where each chunk's
    pieces and slots start, CHUNK_START / SLOT_CHUNK_START [rows, NC + 1]."""
    row = tl.program_id(0).to(tl.int64)
    starts = row * (num_keys // num_groups + 1)
    tl.store(CHUNK_START + starts, 0)
    tl.store(SLOT_CHUNK_START + starts, 0)
    pieces_before = tl.zeros([], tl.int32)
    slots_before = tl.zeros([], tl.int32)
    for k0 in range(0, num_keys, BLOCK):
        k = k0 + tl.arange(0, BLOCK)
        ok = k < num_keys
        end = tl.load(GROUP_END + row * num_keys + k, mask=ok, other=0)
        begin = tl.load(GROUP_END + row * num_keys + k - 1, mask=ok & (k > 0), other=0)
        pieces = tl.where(ok, (end - begin + size - 1) // size, 0)
        slots = tl.where(pieces > 1, pieces, 0)
        piece_end = pieces_before + tl.cumsum(pieces, 0)
        slot_end = slots_before + tl.cumsum(slots, 0)
        tl.store(PIECE_END + row * num_keys + k, piece_end, mask=ok)
        tl.store(SLOT_END + row * num_keys + k, slot_end, mask=ok)
        chunk_end = ok & ((k + 1) % num_groups == 0)
        tl.store(CHUNK_START + starts + (k + 1) // num_groups, piece_end, mask=chunk_end)
        tl.store(SLOT_CHUNK_START + starts + (k + 1) // num_groups, slot_end, mask=chunk_end)
        pieces_before += tl.sum(pieces, 0)
        slots_before += tl.sum(slots, 0)


@triton.jit
def _work_pieces(GROUP_END, PIECE_END, WORK_GROUP, WORK_FIRST, num_keys, num_pieces, size, steps,
                 BLOCK: tl.constexpr):
    """Grid (cdiv(W, BLOCK), B * Hkv): piece w's group, the number of groups whose pieces end at
    or before w (num_keys past the last piece), and its first entry in `order`: the group's
    start plus size entries for each piece of the group before it."""
    row = tl.program_id(1).to(tl.int64)
    w = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = w < num_pieces
    group = _binary_search(PIECE_END + row * num_keys, num_keys, w, steps, BLOCK)
    before = tl.minimum(group, num_keys - 1) - 1          # the group before (-1: none)
    entries_before = tl.load(GROUP_END + row * num_keys + before, mask=ok & (before >= 0), other=0)
    pieces_before = tl.load(PIECE_END + row * num_keys + before, mask=ok & (before >= 0), other=0)
    first = entries_before.to(tl.int64) + (w - pieces_before).to(tl.int64) * size
    tl.store(WORK_GROUP + row * num_pieces + w, group, mask=ok)
    tl.store(WORK_FIRST + row * num_pieces + w, first.to(tl.int32), mask=ok)


class PieceSlots(NamedTuple):
    """Where the deterministic backward's pieces put their dK/dV (selected_attention_backward):
    a group's only piece in a chunk adds into the float32 sums itself; the pieces of a group
    with several get consecutive slots in the chunk's float32 piece partials."""
    part_end: torch.Tensor     # [BH, NC * NG] int32: end of each group's slots, from the call start
    chunk_start: torch.Tensor  # [BH, NC + 1] int32: slots of chunk c: [c] .. [c + 1]
    per_chunk: int             # bound on the slots of one chunk


def piece_slots(index: BlockIndex, work: WorkList, size: int) -> PieceSlots:
    """The partial slots of `work` (pieces of at most `size` entries; work_list counted them).
    A group cut into k >= 2 pieces has more than (k - 1) * size >= k * size / 2 entries, so a
    chunk's C * n entries make fewer than 2 * C * n / size such pieces: the bound holds from
    shapes alone."""
    per_chunk = min(work.per_chunk, triton.cdiv(2 * index.chunk_tokens * index.selection.shape[3], size))
    return PieceSlots(work.slot_end, work.slot_chunk_start, max(1, per_chunk))


@triton.jit
def _piece(WORK_GROUP, WORK_FIRST, CHUNK_START, GROUP_END, bh, program, chunk, num_chunks,
           num_work, num_keys, piece_entries):
    """The piece that program `program` (0 .. per_chunk - 1) of kv head bh owns in token chunk
    `chunk`: (its index among the chunk's pieces, its first and end positions in `order`,
    active). Inactive programs (past the chunk's last piece) read piece 0's entries and must
    not use them."""
    start = tl.load(CHUNK_START + bh * (num_chunks + 1) + chunk)
    piece = start + program
    active = piece < tl.load(CHUNK_START + bh * (num_chunks + 1) + chunk + 1)
    piece = tl.where(active, piece, 0)
    group = tl.load(WORK_GROUP + bh * num_work + piece)
    first = tl.load(WORK_FIRST + bh * num_work + piece)
    end = tl.minimum(tl.load(GROUP_END + bh * num_keys + group), first + piece_entries)
    return piece - start, first, end, active


@triton.jit
def _block_of_piece(SELECTION, ORDER, ROW_SEQ, CU_Q, CU_K, bh, first, batch, kv_head,
                    num_entries, num_selected, stride_sb, stride_st, stride_sh):
    """The block and sequence a piece's group names, read off its first entry:
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
def _block_keys(batch, kv_head, block, k_start, k_len, select_block_size,
                stride_kb, stride_kt, stride_kh, BLOCK_N: tl.constexpr):
    """The BLOCK_N keys of one selection block: their positions in the sequence rel [BLOCK_N]
    (int32, as the query positions they are compared with: int64 compares cost two
    instructions), which of them exist (key_ok), and their rows' offsets in K / V
    [BLOCK_N, 1] (int64)."""
    c = tl.arange(0, BLOCK_N)
    rel = (block * select_block_size + c).to(tl.int32)
    key_ok = (c < select_block_size) & (rel < k_len)
    key_rows = (batch * stride_kb + (k_start + rel).to(tl.int64)[:, None] * stride_kt
                + kv_head * stride_kh)
    return rel, key_ok, key_rows


@triton.jit
def _load_block(K, V, batch, kv_head, block, k_start, k_len, select_block_size,
                stride_kb, stride_kt, stride_kh, HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr,
                BLOCK_D: tl.constexpr):
    """K and V of one selection block [BLOCK_N, BLOCK_D] (zero past the block or sequence),
    and _block_keys' rel, key_ok and key_rows."""
    d = tl.arange(0, BLOCK_D)
    rel, key_ok, key_rows = _block_keys(batch, kv_head, block, k_start, k_len, select_block_size,
                                        stride_kb, stride_kt, stride_kh, BLOCK_N)
    offsets = key_rows + d[None, :]
    mask = key_ok[:, None] & (d < HEAD_DIM)[None, :]
    return (tl.load(K + offsets, mask=mask, other=0.0), tl.load(V + offsets, mask=mask, other=0.0),
            rel, key_ok, key_rows)


@triton.jit
def _tile_entries(ORDER, bh, start, end, num_entries, GP: tl.constexpr, BLOCK_M: tl.constexpr):
    """The `order` entries of the tile at `start`, int32 [BLOCK_M]: row m holds entry
    start + m // GP (0 past end)."""
    slot_row = start + tl.arange(0, BLOCK_M) // GP
    return tl.load(ORDER + bh * num_entries + slot_row, mask=slot_row < end, other=0)


@triton.jit
def _rows_of(entries, start, end, NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr,
             BLOCK_M: tl.constexpr):
    """Rows of the tile at `start` from its `_tile_entries`: query head member m % GP.
    Returns (entry, token, member, row_ok), entry = token * n + slot, int64."""
    m = tl.arange(0, BLOCK_M)
    member = m % GP
    row_ok = (start + m // GP < end) & (member < G)
    # ORDER holds int32 entries (Tq * n < 2**31): divide in int32 (by a constant: a shift at
    # n = 16), not by int64's slow routine.
    return entries.to(tl.int64), (entries // NUM_SELECTED).to(tl.int64), member, row_ok


@triton.jit
def _tile_rows(ORDER, bh, start, end, num_entries, NUM_SELECTED: tl.constexpr, G: tl.constexpr,
               GP: tl.constexpr, BLOCK_M: tl.constexpr):
    """Rows of the tile at `start`: entry start + m // GP of `order` (up to end), query head
    member m % GP. Returns (entry, token, member, row_ok), entry = token * n + slot, int64."""
    return _rows_of(_tile_entries(ORDER, bh, start, end, num_entries, GP, BLOCK_M), start, end,
                    NUM_SELECTED, G, GP, BLOCK_M)


@triton.jit
def _gather_rows(base, token, member, row_ok, stride_t, stride_h, HEAD_DIM: tl.constexpr,
                 BLOCK_D: tl.constexpr, EVICTION: tl.constexpr):
    """Rows [BLOCK_M, BLOCK_D] of a [T, H, D] tensor at `base` (its batch and first head of
    the group): row m is head `member[m]` of token `token[m]`, zero where not row_ok."""
    d = tl.arange(0, BLOCK_D)
    ptrs = base + token[:, None] * stride_t + member[:, None] * stride_h + d[None, :]
    return tl.load(ptrs, mask=row_ok[:, None] & (d < HEAD_DIM)[None, :], other=0.0,
                   eviction_policy=EVICTION)


@triton.jit
def _whole_block_last_key(block, k_len, select_block_size, BLOCK_N: tl.constexpr):
    """The last key of a block whose BLOCK_N keys all exist; for a sequence's short last block
    or a block narrower than BLOCK_N, which no tile sees whole, a key past every position."""
    last_key = (block + 1) * select_block_size - 1
    return tl.where((select_block_size == BLOCK_N) & (last_key < k_len), last_key, 2147483647)


@triton.jit
def _first_token(ORDER, bh, start, end, num_entries, NUM_SELECTED: tl.constexpr):
    """The token of entry `start` of `order` (of the last entry, end - 1, past it): the lowest
    token of the tile at `start`, since a piece's entries are in token order. The loops load
    it a tile ahead, so its latency hides behind the tile before."""
    return tl.load(ORDER + bh * num_entries + tl.minimum(start, end - 1)) // NUM_SELECTED


@triton.jit
def _tile_sees_part(first_token, pos_offset, last_key):
    """Whether the tile whose lowest token is `first_token` needs the visibility mask: its
    first query (position first_token + pos_offset) sees only part of the block. That is the
    block's own tokens (the forced local block) and the tokens of a short last block; every
    other tile skips its compares."""
    return first_token + pos_offset < last_key


@triton.jit
def _selected_partials(
    Q, K, V, O_PART, PART_STATS, SELECTION, ORDER, GROUP_END, WORK_GROUP, WORK_FIRST,
    CHUNK_START, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_sb, stride_st, stride_sh,
    num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk, entry_base, part_entries,
    select_block_size, piece_entries, scale_log2,
    NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
    P_OFFSET: tl.constexpr, NORMALIZE: tl.constexpr, ALWAYS_MASK: tl.constexpr,
    Q_EVICTION: tl.constexpr, PART_EVICTION: tl.constexpr,
):
    """Grid (per_chunk, B * Hkv), one launch per token chunk: program (i, bh) runs piece i of
    the chunk (_partials_of_piece)."""
    _partials_of_piece(
        Q, K, V, O_PART, PART_STATS, SELECTION, ORDER, GROUP_END, WORK_GROUP, WORK_FIRST,
        CHUNK_START, ROW_SEQ, CU_Q, CU_K, stride_qb, stride_qt, stride_qh,
        stride_kb, stride_kt, stride_kh, stride_sb, stride_st, stride_sh,
        num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk, entry_base,
        part_entries, select_block_size, piece_entries, scale_log2,
        tl.program_id(1).to(tl.int64), tl.program_id(0),
        NUM_SELECTED, G, GP, HEAD_DIM, BLOCK_T, BLOCK_N, BLOCK_D, UPCAST, IEEE, P_OFFSET,
        NORMALIZE, ALWAYS_MASK, Q_EVICTION, PART_EVICTION)


@triton.jit
def _partials_of_piece(
    Q, K, V, O_PART, PART_STATS, SELECTION, ORDER, GROUP_END, WORK_GROUP, WORK_FIRST,
    CHUNK_START, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_sb, stride_st, stride_sh,
    num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk, entry_base, part_entries,
    select_block_size, piece_entries, scale_log2, bh, program,
    NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
    P_OFFSET: tl.constexpr, NORMALIZE: tl.constexpr, ALWAYS_MASK: tl.constexpr,
    Q_EVICTION: tl.constexpr, PART_EVICTION: tl.constexpr,
):
    """Piece `program` of kv head bh (int64) in token chunk `chunk`. O_PART [BH, C * n, G, D]
    (unnormalised: sum_j 2^(s_j - shift) v_j; NORMALIZE: divided by sum_j 2^(s_j - shift)),
    PART_STATS [BH, C * n, G, 2] float32: (lse, shift) in log2 units (shift unused with
    NORMALIZE); entry e of the chunk at e - entry_base. P_OFFSET = log2(BLOCK_N). ALWAYS_MASK:
    every tile takes the visibility mask (a tuning switch; the mask-free tiles are exact)."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    # Offsets are int64 throughout: the partial buffers may pass 2**31 elements.
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    _, first, end, active = _piece(WORK_GROUP, WORK_FIRST, CHUNK_START, GROUP_END, bh, program,
                                   chunk, num_chunks, num_work, num_keys, piece_entries)
    if active:
        block, q_start, q_len, k_start, k_len = _block_of_piece(
            SELECTION, ORDER, ROW_SEQ, CU_Q, CU_K, bh, first, batch, kv_head, num_entries,
            NUM_SELECTED, stride_sb, stride_st, stride_sh)
        k, v, rel, key_ok, _rows = _load_block(K, V, batch, kv_head, block, k_start, k_len,
                                               select_block_size, stride_kb, stride_kt,
                                               stride_kh, HEAD_DIM, BLOCK_N, BLOCK_D)
        d = tl.arange(0, BLOCK_D)
        d_ok = d < HEAD_DIM
        last_key = _whole_block_last_key(block, k_len, select_block_size, BLOCK_N)
        # The tile's entries are loaded a tile ahead (loop-carried), so a tile starts with its
        # q rows' addresses at hand: the gather no longer waits on a load of `order` first.
        # (Gathering the q rows a tile ahead as well took 254 registers, 2 programs per SM, and
        # was no faster on an H200: session 16.)
        q_base = Q + batch * stride_qb + kv_head * G * stride_qh
        next_first_token = _first_token(ORDER, bh, first, end, num_entries, NUM_SELECTED)
        next_entries = _tile_entries(ORDER, bh, first, end, num_entries, GP, BLOCK_M)
        for start in range(first, end, BLOCK_T):
            first_token = next_first_token
            entry, token, member, row_ok = _rows_of(next_entries, start, end, NUM_SELECTED, G,
                                                    GP, BLOCK_M)
            q = _gather_rows(q_base, token, member, row_ok, stride_qt, stride_qh, HEAD_DIM,
                             BLOCK_D, Q_EVICTION)
            next_entries = _tile_entries(ORDER, bh, start + BLOCK_T, end, num_entries, GP,
                                         BLOCK_M)
            next_first_token = _first_token(ORDER, bh, start + BLOCK_T, end, num_entries,
                                            NUM_SELECTED)
            pos = (k_len - q_len + (token - q_start)).to(tl.int32)

            # Scaled before the max, so the max and the exponents share their roundings (scores
            # of 1e10 are 1024 apart in float32: a fused multiply-add against the rounded max
            # could put a row's top exponent hundreds above or below 0).
            s = dot(q, tl.trans(k), UPCAST, IEEE) * scale_log2
            if ALWAYS_MASK or _tile_sees_part(first_token, k_len - q_len - q_start, last_key):
                s = tl.where(key_ok[None, :] & (rel[None, :] <= pos[:, None]), s, float("-inf"))
            row_max = tl.max(s, 1)
            shift = tl.where(row_max == float("-inf"), 0.0, row_max)
            if not NORMALIZE:
                # log2(BLOCK_N) above the max: p <= 1 / BLOCK_N, sum(p) <= 1 and |p V| <= max |v|,
                # so the unnormalised output cannot overflow a float16 (the merge divides once).
                shift += P_OFFSET
            p = tl.exp2(s - shift[:, None])
            total = tl.sum(p, 1)
            seen = total > 0
            out = dot(p.to(v.dtype), v, UPCAST, IEEE)
            if NORMALIZE:
                out = out * (1.0 / tl.where(seen, total, 1.0))[:, None]
            lse = tl.where(seen, shift + tl.log2(tl.where(seen, total, 1.0)), float("-inf"))

            part = (bh * part_entries + entry - entry_base) * G + member
            tl.store(O_PART + part[:, None] * HEAD_DIM + d[None, :], out.to(O_PART.dtype.element_ty),
                     mask=row_ok[:, None] & d_ok[None, :], eviction_policy=PART_EVICTION)
            # (lse, shift) side by side: one store and one layout conversion, not two
            pair = tl.arange(0, 2)
            tl.store(PART_STATS + part[:, None] * 2 + pair[None, :], tl.join(lse, shift),
                     mask=row_ok[:, None])


@triton.jit
def _reduction_program(G: tl.constexpr, BLOCK_T: tl.constexpr):
    """(bh, member, local tokens [BLOCK_T]) of a reduction program, for grids
    (cdiv(chunk tokens, BLOCK_T) * G, B * Hkv). The G programs of one token tile are
    neighbours in launch order: they read the G contiguous rows that each (token, slot) owns
    in the partial buffers at about the same time, and DRAM serves them in one pass."""
    tile = tl.program_id(0) // G
    local = tile.to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    return tl.program_id(1).to(tl.int64), tl.program_id(0) % G, local


@triton.jit
def _used_slots(SELECTION, batch, token, kv_head, t_ok, s, num_selected, stride_sb, stride_st,
                stride_sh):
    """Which of the tokens' slot s the forward used: a valid block that does not repeat the
    slot before it (the selection is sorted). Two loads, no dependence on other loads."""
    sel = SELECTION + batch * stride_sb + token * stride_st + kv_head * stride_sh + s
    slot = token * 0 + s        # as a tensor: the interpreter cannot mask with scalar & tensor
    block = tl.load(sel, mask=t_ok & (slot < num_selected), other=-1)
    previous = tl.load(sel - 1, mask=t_ok & (slot > 0) & (slot < num_selected), other=-1)
    return (block >= 0) & (block != previous)


@triton.jit
def _merge_partials(
    O, LSE, O_PART, PART_STATS,
    stride_ob, stride_ot, stride_oh, stride_lb, stride_lt,
    token_base, token_stop, num_kv_heads, part_entries, num_selected,
    G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr,
    BLOCK_D: tl.constexpr, NP: tl.constexpr, UNROLL: tl.constexpr, NORMALIZE: tl.constexpr,
    PART_EVICTION: tl.constexpr,
):
    """Grid (cdiv(chunk tokens, BLOCK_R // GP), B * Hkv), one launch per token chunk: program
    (i, bh) merges the chunk's tokens i * BLOCK_R // GP onwards (_merge_rows)."""
    _merge_rows(O, LSE, O_PART, PART_STATS, stride_ob, stride_ot, stride_oh, stride_lb,
                stride_lt, token_base, token_stop, num_kv_heads, part_entries, num_selected,
                tl.program_id(1).to(tl.int64), tl.program_id(0),
                G, GP, HEAD_DIM, BLOCK_R, BLOCK_D, NP, UNROLL, NORMALIZE, PART_EVICTION)


@triton.jit
def _merge_rows(
    O, LSE, O_PART, PART_STATS,
    stride_ob, stride_ot, stride_oh, stride_lb, stride_lt,
    token_base, token_stop, num_kv_heads, part_entries, num_selected, bh, program,
    G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr,
    BLOCK_D: tl.constexpr, NP: tl.constexpr, UNROLL: tl.constexpr, NORMALIZE: tl.constexpr,
    PART_EVICTION: tl.constexpr,
):
    """Merge the slots of each (token, query head) of the chunk (token_base .. token_stop)
    that program `program` of kv head bh (int64) owns, in slot order. A program owns BLOCK_R
    rows: BLOCK_R // GP tokens with all G query heads of the kv
    head (row m: token m // GP, head member m % GP; members >= G masked). A (token, slot)
    keeps its G heads side by side in the partial buffers, so one program reads their
    (lse, shift) pairs in one sector (G = 4) where G programs of one head each read it
    before, and their G rows of O_PART as one contiguous run. Slots the forward did not use
    hold lse = -inf (the launcher fills PART_STATS) and weigh nothing; their O_PART rows are
    never read into the sum (tl.where, so stale data cannot leak in)."""
    batch = bh // num_kv_heads
    m = tl.arange(0, BLOCK_R)
    member = m % GP
    local = program.to(tl.int64) * (BLOCK_R // GP) + m // GP
    head = (bh % num_kv_heads) * G + member
    token = token_base + local
    t_ok = (token < token_stop) & (member < G)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    part0 = (bh * part_entries + local * num_selected) * G + member       # slot 0 of each row

    slot = tl.arange(0, NP)
    lse_all = tl.load(PART_STATS + (part0[:, None] + slot[None, :] * G) * 2,
                      mask=t_ok[:, None] & (slot < num_selected)[None, :], other=float("-inf"))
    top = tl.max(lse_all, 1)
    shift = tl.where(top == float("-inf"), 0.0, top)
    total = tl.zeros([BLOCK_R], tl.float32)
    acc = tl.zeros([BLOCK_R, BLOCK_D], tl.float32)
    # UNROLL slots per step: their loads do not depend on each other, so they are in flight
    # together (the merge is bound by memory latency, not bandwidth, one slot at a time).
    for s0 in range(0, num_selected, UNROLL):
        for u in tl.static_range(UNROLL):
            s = s0 + u
            ok = t_ok & (local * 0 + s < num_selected)
            lse_s = tl.load(PART_STATS + (part0 + s * G) * 2, mask=ok, other=float("-inf"))
            o_s = tl.load(O_PART + (part0 + s * G)[:, None] * HEAD_DIM + d[None, :],
                          mask=ok[:, None] & d_ok[None, :], other=0.0, eviction_policy=PART_EVICTION)
            used = lse_s > float("-inf")
            weight = tl.where(used, tl.exp2(lse_s - shift), 0.0)
            total += weight
            if not NORMALIZE:
                # o_s is unnormalised: exp(lse_s - lse) o_s / total_s = exp(shift_s - lse) o_s
                shift_s = tl.load(PART_STATS + (part0 + s * G) * 2 + 1, mask=ok, other=0.0)
                weight = tl.where(used, tl.exp2(shift_s - shift), 0.0)
            acc += tl.where(used[:, None], o_s.to(tl.float32) * weight[:, None], 0.0)
    seen = total > 0
    out = acc / tl.where(seen, total, 1.0)[:, None]
    lse = tl.where(seen, (shift + tl.log2(tl.where(seen, total, 1.0))) * LN2, float("-inf"))
    o_ptrs = O + batch * stride_ob + token[:, None] * stride_ot + head[:, None] * stride_oh + d[None, :]
    tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=t_ok[:, None] & d_ok[None, :])
    tl.store(LSE + batch * stride_lb + token * stride_lt + head, lse, mask=t_ok)


@triton.jit
def _partials_and_merge(
    Q, K, V, O_PART, PART_STATS, SELECTION, ORDER, GROUP_END, WORK_GROUP, WORK_FIRST,
    CHUNK_START, ROW_SEQ, CU_Q, CU_K,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_sb, stride_st, stride_sh,
    num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk, entry_base, part_entries,
    select_block_size, piece_entries, scale_log2,
    O, LSE, O_PART_PREV, PART_STATS_PREV, stride_ob, stride_ot, stride_oh, stride_lb, stride_lt,
    merge_base, merge_stop, num_partial_programs, num_merge_programs,
    NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
    P_OFFSET: tl.constexpr, NORMALIZE: tl.constexpr, ALWAYS_MASK: tl.constexpr,
    Q_EVICTION: tl.constexpr, PART_EVICTION: tl.constexpr,
    BLOCK_R: tl.constexpr, NP: tl.constexpr, UNROLL: tl.constexpr,
):
    """Grid (P + M, B * Hkv): the partials of token chunk `chunk` (P = per_chunk programs,
    into O_PART / PART_STATS, as _selected_partials) and the merge of the chunk before it (M
    programs of BLOCK_R rows, tokens merge_base .. merge_stop, from O_PART_PREV /
    PART_STATS_PREV, as _merge_partials) in one launch. The merge streams partials from
    memory while the partials programs wait on their q gathers, and each kind fills the
    other's tail. The kinds alternate evenly in launch order: program i is merge program
    m(i) = floor(i * M / (P + M)) if m(i + 1) > m(i), else partials program i - m(i)."""
    bh = tl.program_id(1).to(tl.int64)
    i = tl.program_id(0).to(tl.int64)
    programs = num_partial_programs + num_merge_programs
    merges_before = i * num_merge_programs // programs
    if (i + 1) * num_merge_programs // programs > merges_before:
        _merge_rows(O, LSE, O_PART_PREV, PART_STATS_PREV, stride_ob, stride_ot, stride_oh,
                    stride_lb, stride_lt, merge_base, merge_stop, num_kv_heads, part_entries,
                    NUM_SELECTED, bh, merges_before,
                    G, GP, HEAD_DIM, BLOCK_R, BLOCK_D, NP, UNROLL, NORMALIZE, PART_EVICTION)
    else:
        _partials_of_piece(
            Q, K, V, O_PART, PART_STATS, SELECTION, ORDER, GROUP_END, WORK_GROUP, WORK_FIRST,
            CHUNK_START, ROW_SEQ, CU_Q, CU_K, stride_qb, stride_qt, stride_qh,
            stride_kb, stride_kt, stride_kh, stride_sb, stride_st, stride_sh,
            num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk, entry_base,
            part_entries, select_block_size, piece_entries, scale_log2,
            bh, (i - merges_before).to(tl.int32),
            NUM_SELECTED, G, GP, HEAD_DIM, BLOCK_T, BLOCK_N, BLOCK_D, UPCAST, IEEE, P_OFFSET,
            NORMALIZE, ALWAYS_MASK, Q_EVICTION, PART_EVICTION)


def _launch_setup(q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size, rows,
                  chunk_tokens):
    """What the forward and backward launchers share: tile sizes, sequence tables and the
    block index (token chunks of `chunk_tokens`)."""
    group = q.shape[2] // k.shape[2]
    sizes = block_sizes(group, q.shape[3], rows)
    block_n = max(16, triton.next_power_of_2(select_block_size))
    row_seq, cu_q, cu_k = sequence_tables(q, cu_seqlens_q, cu_seqlens_k, k.shape[1])
    index = block_index(indices, row_seq, cu_k, select_block_size, k.shape[1], chunk_tokens)
    return group, sizes, block_n, (row_seq, cu_q, cu_k), index


def selected_attention_forward(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                               select_block_size: int, scale: float, rows: int = 64,
                               num_warps: int = 4, piece_tiles: int = 8, num_stages: int = 1,
                               chunk_tokens: int = 0, workspace_bytes: int = 0,
                               max_registers: Optional[int] = None, merge_rows: int = 0,
                               normalize_partials: bool = False, always_mask: bool = False,
                               l2_hints: bool = True, overlap_merge: Optional[bool] = None):
    """q [B, Tq, Hq, D], k/v [B, Tk, Hkv, D], indices [B, Tq, Hkv, n] ->
    (o [B, Tq, Hq, D], lse [B, Tq, Hq] float32).

    Tuning knobs (benchmarks/sweep_selected.py): `rows` (query rows per tile, G heads x
    BLOCK_T tokens), `piece_tiles` (tiles per program), `num_warps`, `num_stages`,
    `max_registers` (the partials kernel's register cap, common.register_cap; None: 168 up
    to D = 128), `merge_rows` ((token, head) rows per merge program, a power of two;
    at least the group's next power of two; 0: 32 with overlap_merge, else 16),
    `normalize_partials` (divide each partial output by its sum in the partials kernel, not
    once in the merge), `always_mask` (every tile takes the visibility mask, not only those
    that see part of their block), `l2_hints` (default on: the partial outputs' stores and the
    merge's loads of them marked evict-first in L2, the gathered q rows evict-last, so a chunk's
    q rows of one kv head, at most Q_ROWS_BYTES by default, stay in L2 while the partials
    stream through it); `chunk_tokens` (default: forward_chunk_tokens, or what
    `workspace_bytes` of partials hold); `overlap_merge` (two partial buffers: one launch
    computes a chunk's partials and merges the chunk before it, _partials_and_merge; chunks
    from `workspace_bytes` are halved, so the workspace stays the same; None:
    forward_overlaps_merge).
    Workspace: C * n * Hq * D elements in q's dtype plus 2 * C * n * Hq float32 (twice
    that with overlap_merge and more than one chunk).
    """
    batch, num_queries, num_heads, head_dim = q.shape
    num_kv_heads, n = k.shape[2], indices.shape[3]
    o = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
    if o.numel() == 0:
        return o, lse.fill_(float("-inf"))
    if overlap_merge is None:
        overlap_merge = forward_overlaps_merge(q, k, n)
    merge_rows = merge_rows or (32 if overlap_merge else 16)
    chunk_tokens = chunk_tokens or forward_chunk_tokens(q, k, n, workspace_bytes, overlap_merge)
    group, sizes, block_n, (row_seq, cu_q, cu_k), index = _launch_setup(
        q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size, rows, chunk_tokens)
    piece_entries = sizes.block_t * max(1, piece_tiles)
    if max_registers is None:
        # Uncapped, ptxas takes ~200 registers: 2 programs per SM. Capped at 168 (3 programs, a
        # few spills), H100 at 64K: G = 1 / 4 / 16 from 2.72 / 7.66 / 26.0 ms to 2.45 / 6.79 /
        # 23.9 ms (benchmarks/results/NVIDIA_H100_80GB_HBM3/occupancy/).
        max_registers = 168 if sizes.block_d <= 128 else 0
    work = work_list(index, piece_entries)
    bh, num_entries = index.order.shape
    num_keys, num_work = index.group_end.shape[1], work.group.shape[1]
    chunk_tokens, num_chunks = index.chunk_tokens, index.num_chunks
    part_entries = min(chunk_tokens, num_queries) * n
    buffers = 2 if overlap_merge and num_chunks > 1 else 1
    o_part = torch.empty((buffers, bh, part_entries, group, head_dim), dtype=q.dtype, device=q.device)
    part_stats = torch.empty((buffers, bh, part_entries, group, 2), dtype=torch.float32, device=q.device)
    sel = index.selection
    part_eviction = "evict_first" if l2_hints else ""
    merge_rows = max(merge_rows, sizes.group_pow2)      # whole tokens: all G heads of one
    meta = dict(G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim, BLOCK_D=sizes.block_d,
                NORMALIZE=normalize_partials, PART_EVICTION=part_eviction)
    merge_meta = dict(BLOCK_R=merge_rows, NP=triton.next_power_of_2(n), UNROLL=SLOTS_IN_FLIGHT)
    partials_meta = dict(
        NUM_SELECTED=n, BLOCK_T=sizes.block_t, BLOCK_N=block_n, **dot_modes(q.dtype),
        P_OFFSET=float(block_n.bit_length() - 1), ALWAYS_MASK=always_mask,
        Q_EVICTION="evict_last" if l2_hints else "",
        num_warps=num_warps, num_stages=num_stages, **register_cap(max_registers))

    def partials_args(chunk):
        return (q, k, v, o_part[chunk % buffers], part_stats[chunk % buffers], sel, index.order,
                index.group_end, work.group, work.first, work.chunk_start, row_seq, cu_q, cu_k,
                q.stride(0), q.stride(1), q.stride(2),
                k.stride(0), k.stride(1), k.stride(2),
                sel.stride(0), sel.stride(1), sel.stride(2),
                num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk,
                chunk * chunk_tokens * n, part_entries, select_block_size, piece_entries,
                scale * LOG2E)

    def merge_args(chunk):
        """(O .. token_stop) of _merge_partials for `chunk`, and its program count."""
        token_base = chunk * chunk_tokens
        token_stop = min(num_queries, token_base + chunk_tokens)
        programs = triton.cdiv(token_stop - token_base, merge_rows // sizes.group_pow2)
        return (o, lse, o_part[chunk % buffers], part_stats[chunk % buffers],
                o.stride(0), o.stride(1), o.stride(2), lse.stride(0), lse.stride(1),
                token_base, token_stop), programs

    def merge(chunk):
        args, programs = merge_args(chunk)
        _merge_partials[(programs, bh)](*args, num_kv_heads, part_entries, n, **meta,
                                        **merge_meta, num_warps=4)

    for chunk in range(num_chunks):
        part_stats[chunk % buffers].fill_(float("-inf"))   # slots the forward does not use stay -inf
        if buffers == 1 or chunk == 0:
            _selected_partials[(work.per_chunk, bh)](*partials_args(chunk), **meta,
                                                     **partials_meta)
        else:
            args, programs = merge_args(chunk - 1)
            _partials_and_merge[(work.per_chunk + programs, bh)](
                *partials_args(chunk), *args, work.per_chunk, programs, **meta, **partials_meta,
                **merge_meta)
        if buffers == 1:
            merge(chunk)
    if buffers == 2:
        merge(num_chunks - 1)
    return o, lse


def forward_overlaps_merge(q: torch.Tensor, k: torch.Tensor, num_selected: int) -> bool:
    """q [B, Tq, Hq, D], k [B, Tk, Hkv, D] -> the forward's default overlap_merge: on where it
    was measured faster, groups whose next power of two is 4 (G = 3, 4) with more than one
    default token chunk. H200, 64K, bf16, D = 128, ms plain / overlapped (32-row merge
    programs): G = 1: 1.637 / 1.712; G = 4: 4.657 / 4.501; G = 16: 15.41 / 15.52
    (benchmarks/results/NVIDIA_H200/session18/)."""
    group = q.shape[2] // k.shape[2]
    return (triton.next_power_of_2(group) == 4
            and chunk_tokens_for(q, num_selected) < q.shape[1])


@triton.jit
def _backward_tile(ORDER, bh, start, end, num_entries, first_token, q_start, q_len, k_len,
                   NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr,
                   BLOCK_T: tl.constexpr, BLOCK_M: tl.constexpr):
    """The piece kernels' tile at `start`: (first_token, its lowest token, which the loop
    loaded a tile ahead; the next tile's lowest token, loaded now; entry, token, member,
    row_ok as in _tile_rows; pos [BLOCK_M], each row's query position)."""
    next_first_token = _first_token(ORDER, bh, start + BLOCK_T, end, num_entries, NUM_SELECTED)
    entry, token, member, row_ok = _tile_rows(ORDER, bh, start, end, num_entries, NUM_SELECTED,
                                              G, GP, BLOCK_M)
    pos = (k_len - q_len + (token - q_start)).to(tl.int32)
    return first_token, next_first_token, entry, token, member, row_ok, pos


@triton.jit
def _piece_slot(WORK_GROUP, PIECE_END, PART_END, CHUNK_START, PART_START, bh, piece, chunk,
                num_chunks, num_work, num_keys):
    """Where piece `piece` (its index among the chunk's pieces) of the deterministic backward
    puts its dK/dV (PieceSlots): (sole, slot), sole when it is its group's only piece in the
    chunk, else its slot among the chunk's piece partials."""
    absolute = tl.load(CHUNK_START + bh * (num_chunks + 1) + chunk) + piece
    group = tl.load(WORK_GROUP + bh * num_work + absolute)
    end = tl.load(PIECE_END + bh * num_keys + group)
    count = end - tl.load(PIECE_END + bh * num_keys + group - 1, mask=group > 0, other=0)
    slot = (tl.load(PART_END + bh * num_keys + group) - end + absolute
            - tl.load(PART_START + bh * (num_chunks + 1) + chunk))
    return count == 1, slot


@triton.jit
def _store_block_grads(DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, dk, dv, key_rows, key_ok,
                       part_rows, in_block, col, col_ok, sole, chunk, num_chunks):
    """A deterministic piece's float32 dK, dV [BLOCK_N, len(col)], columns `col` of its block.
    The group's only piece in the chunk adds the earlier chunks' sums DK_SUM, DV_SUM (laid out
    like K, rows key_rows [BLOCK_N, 1]) and writes DK, DV in the last chunk, the sums before
    it. A piece of a group with several writes its rows part_rows [BLOCK_N, 1] of DK_PART,
    DV_PART; _selected_bwd_dkdv adds them up."""
    if sole:
        mask = key_ok[:, None] & col_ok[None, :]
        offsets = key_rows + col[None, :]
        if chunk > 0:
            dk += tl.load(DK_SUM + offsets, mask=mask, other=0.0)
            dv += tl.load(DV_SUM + offsets, mask=mask, other=0.0)
        if chunk == num_chunks - 1:
            tl.store(DK + offsets, dk.to(DK.dtype.element_ty), mask=mask)
            tl.store(DV + offsets, dv.to(DV.dtype.element_ty), mask=mask)
        else:
            tl.store(DK_SUM + offsets, dk, mask=mask)
            tl.store(DV_SUM + offsets, dv, mask=mask)
    else:
        mask = in_block[:, None] & col_ok[None, :]
        tl.store(DK_PART + part_rows + col[None, :], dk, mask=mask)
        tl.store(DV_PART + part_rows + col[None, :], dv, mask=mask)


@triton.jit
def _half_cols(PTR, row_offsets, row_ok, half, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr):
    """Columns [half * BLOCK_D / 2, (half + 1) * BLOCK_D / 2) of the rows at row_offsets
    [M, 1] of a [.., D] tensor: [M, BLOCK_D / 2], zero past D or where not row_ok."""
    col = half * (BLOCK_D // 2) + tl.arange(0, BLOCK_D // 2)
    return tl.load(PTR + row_offsets + col[None, :],
                   mask=row_ok[:, None] & (col < HEAD_DIM)[None, :], other=0.0)


@triton.jit
def _selected_bwd_halves(
    Q, K, V, DO, LSE, DELTA, DQ_PART, DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, ORDER,
    stride_qb, stride_qt, stride_qh, stride_kb, stride_kt, stride_kh, stride_lb, stride_lt,
    bh, batch, kv_head, sole, slot, first, end, block, q_start, q_len, k_start, k_len,
    num_entries, entry_base, part_entries, parts_per_chunk, chunk, num_chunks,
    select_block_size, scale, scale_log2,
    NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr,
    IEEE: tl.constexpr,
):
    """One piece of _selected_bwd_chunks (deterministic; block `block` of kv head bh, entries
    first .. end) with q, dO, K, V, dK, dV and dQ in two halves of BLOCK_D / 2 columns:
    S = q_lo K_lo^T + q_hi K_hi^T, and so on. The registers a thread holds at once shrink by
    the dQ product's half (32 at 4 warps, D = 128), which ptxas needs to pipeline the wgmmas
    (at 255 registers it serializes every one of them: C7512)."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    HALF: tl.constexpr = BLOCK_D // 2
    rel, key_ok, key_rows = _block_keys(batch, kv_head, block, k_start, k_len, select_block_size,
                                        stride_kb, stride_kt, stride_kh, BLOCK_N)
    k_lo = _half_cols(K, key_rows, key_ok, 0, HEAD_DIM, BLOCK_D)
    k_hi = _half_cols(K, key_rows, key_ok, 1, HEAD_DIM, BLOCK_D)
    v_lo = _half_cols(V, key_rows, key_ok, 0, HEAD_DIM, BLOCK_D)
    v_hi = _half_cols(V, key_rows, key_ok, 1, HEAD_DIM, BLOCK_D)
    h = tl.arange(0, HALF)
    dk_lo = tl.zeros([BLOCK_N, HALF], tl.float32)
    dk_hi = tl.zeros([BLOCK_N, HALF], tl.float32)
    dv_lo = tl.zeros([BLOCK_N, HALF], tl.float32)
    dv_hi = tl.zeros([BLOCK_N, HALF], tl.float32)
    last_key = _whole_block_last_key(block, k_len, select_block_size, BLOCK_N)
    next_first_token = _first_token(ORDER, bh, first, end, num_entries, NUM_SELECTED)
    for start in range(first, end, BLOCK_T):
        first_token, next_first_token, entry, token, member, row_ok, pos = _backward_tile(
            ORDER, bh, start, end, num_entries, next_first_token, q_start, q_len, k_len,
            NUM_SELECTED, G, GP, BLOCK_T, BLOCK_M)
        head = kv_head * G + member
        rows = (batch * stride_qb + token * stride_qt + head * stride_qh)[:, None]
        q_lo = _half_cols(Q, rows, row_ok, 0, HEAD_DIM, BLOCK_D)
        q_hi = _half_cols(Q, rows, row_ok, 1, HEAD_DIM, BLOCK_D)
        do_lo = _half_cols(DO, rows, row_ok, 0, HEAD_DIM, BLOCK_D)
        do_hi = _half_cols(DO, rows, row_ok, 1, HEAD_DIM, BLOCK_D)
        lse2, delta = load_row_stats(LSE, DELTA, batch, token, head, row_ok, stride_lb,
                                     stride_lt)
        s = (dot(q_lo, tl.trans(k_lo), UPCAST, IEEE)
             + dot(q_hi, tl.trans(k_hi), UPCAST, IEEE))
        p = recomputed_probabilities(s, lse2, scale_log2)
        # As in _selected_bwd_chunks: tiles that see the whole block skip the mask.
        if _tile_sees_part(first_token, k_len - q_len - q_start, last_key):
            p = tl.where(row_ok[:, None] & key_ok[None, :] & (rel[None, :] <= pos[:, None]),
                         p, 0.0)
        dp = (dot(do_lo, tl.trans(v_lo), UPCAST, IEEE)
              + dot(do_hi, tl.trans(v_hi), UPCAST, IEEE))
        ds = p * (dp * scale - delta[:, None] * scale)
        p_t = tl.trans(p.to(do_lo.dtype))
        ds_t = tl.trans(ds.to(q_lo.dtype))
        dv_lo += dot(p_t, do_lo, UPCAST, IEEE)
        dv_hi += dot(p_t, do_hi, UPCAST, IEEE)
        dk_lo += dot(ds_t, q_lo, UPCAST, IEEE)
        dk_hi += dot(ds_t, q_hi, UPCAST, IEEE)
        # dQ a half at a time: each half is stored before the next is computed.
        part = ((bh * part_entries + entry - entry_base) * G + member)[:, None] * HEAD_DIM
        ds_k = ds.to(k_lo.dtype)
        dq_lo = dot(ds_k, k_lo, UPCAST, IEEE)
        tl.store(DQ_PART + part + h[None, :], dq_lo.to(DQ_PART.dtype.element_ty),
                 mask=row_ok[:, None] & (h < HEAD_DIM)[None, :])
        dq_hi = dot(ds_k, k_hi, UPCAST, IEEE)
        tl.store(DQ_PART + part + (HALF + h)[None, :], dq_hi.to(DQ_PART.dtype.element_ty),
                 mask=row_ok[:, None] & (HALF + h < HEAD_DIM)[None, :])

    c = tl.arange(0, BLOCK_N)
    part_rows = ((bh * parts_per_chunk + slot) * BLOCK_N + c)[:, None] * HEAD_DIM
    in_block = c < select_block_size
    _store_block_grads(DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, dk_lo, dv_lo, key_rows, key_ok,
                       part_rows, in_block, h, h < HEAD_DIM, sole, chunk, num_chunks)
    _store_block_grads(DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, dk_hi, dv_hi, key_rows, key_ok,
                       part_rows, in_block, HALF + h, HALF + h < HEAD_DIM, sole, chunk, num_chunks)


@triton.jit
def _selected_bwd_whole(
    Q, K, V, DO, LSE, DELTA, DQ_PART, DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, ORDER,
    stride_qb, stride_qt, stride_qh, stride_kb, stride_kt, stride_kh, stride_lb, stride_lt,
    bh, batch, kv_head, sole, slot, first, end, block, q_start, q_len, k_start, k_len,
    num_entries, entry_base, part_entries, parts_per_chunk, chunk, num_chunks,
    select_block_size, scale, scale_log2,
    NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr,
    IEEE: tl.constexpr, ATOMIC: tl.constexpr,
):
    """One piece of _selected_bwd_chunks (block `block` of kv head bh, entries first .. end),
    every operand D wide."""
    BLOCK_M: tl.constexpr = BLOCK_T * GP
    k, v, rel, key_ok, key_rows = _load_block(K, V, batch, kv_head, block, k_start, k_len,
                                              select_block_size, stride_kb, stride_kt, stride_kh,
                                              HEAD_DIM, BLOCK_N, BLOCK_D)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    last_key = _whole_block_last_key(block, k_len, select_block_size, BLOCK_N)
    next_first_token = _first_token(ORDER, bh, first, end, num_entries, NUM_SELECTED)
    for start in range(first, end, BLOCK_T):
        first_token, next_first_token, entry, token, member, row_ok, pos = _backward_tile(
            ORDER, bh, start, end, num_entries, next_first_token, q_start, q_len, k_len,
            NUM_SELECTED, G, GP, BLOCK_T, BLOCK_M)
        q, do, lse2, delta, row_offsets, row_mask = load_backward_rows(
            Q, DO, LSE, DELTA, batch, token, kv_head * G + member, row_ok, d, d_ok,
            stride_qb, stride_qt, stride_qh, stride_lb, stride_lt)
        p = recomputed_probabilities(dot(q, tl.trans(k), UPCAST, IEEE), lse2, scale_log2)
        # Tiles that see the whole block skip the mask: their missing rows (q = dO = 0,
        # lse = delta = 0) get p = 1 but ds = 0 and add nothing to dK, dV.
        if _tile_sees_part(first_token, k_len - q_len - q_start, last_key):
            p = tl.where(row_ok[:, None] & key_ok[None, :] & (rel[None, :] <= pos[:, None]),
                         p, 0.0)
        # ds carries the scale (one fused multiply-add a score, not a multiply per dQ and
        # dK element)
        ds = p * (dot(do, tl.trans(v), UPCAST, IEEE) * scale - delta[:, None] * scale)
        dv += dot(tl.trans(p.to(do.dtype)), do, UPCAST, IEEE)
        dk += dot(tl.trans(ds.to(q.dtype)), q, UPCAST, IEEE)
        dq = dot(ds.to(k.dtype), k, UPCAST, IEEE)
        if ATOMIC:
            tl.atomic_add(DQ_PART + row_offsets, dq, mask=row_mask, sem="relaxed")
        else:
            part = (bh * part_entries + entry - entry_base) * G + member
            tl.store(DQ_PART + part[:, None] * HEAD_DIM + d[None, :],
                     dq.to(DQ_PART.dtype.element_ty), mask=row_mask)

    if ATOMIC:
        kv_mask = key_ok[:, None] & d_ok[None, :]
        tl.atomic_add(DK_PART + key_rows + d[None, :], dk, mask=kv_mask, sem="relaxed")
        tl.atomic_add(DV_PART + key_rows + d[None, :], dv, mask=kv_mask, sem="relaxed")
    else:
        c = tl.arange(0, BLOCK_N)
        part_rows = ((bh * parts_per_chunk + slot) * BLOCK_N + c)[:, None] * HEAD_DIM
        _store_block_grads(DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, dk, dv, key_rows, key_ok,
                           part_rows, c < select_block_size, d, d_ok, sole, chunk, num_chunks)


@triton.jit
def _selected_bwd_chunks(
    Q, K, V, DO, LSE, DELTA, DQ_PART, DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART,
    SELECTION, ORDER, GROUP_END, WORK_GROUP, WORK_FIRST, CHUNK_START, ROW_SEQ, CU_Q, CU_K,
    PIECE_END, PART_END, PART_START,
    stride_qb, stride_qt, stride_qh,
    stride_kb, stride_kt, stride_kh,
    stride_lb, stride_lt,
    stride_sb, stride_st, stride_sh,
    num_kv_heads, num_entries, num_keys, num_work, num_chunks, chunk, entry_base, part_entries,
    parts_per_chunk, select_block_size, piece_entries, scale, scale_log2,
    NUM_SELECTED: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, HEAD_DIM: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
    ATOMIC: tl.constexpr, HALVES: tl.constexpr,
):
    """Grid (per_chunk, B * Hkv), one launch per token chunk. Q, DO [B, Tq, Hq, D]; LSE,
    DELTA [B, Tq, Hq] float32 (LSE natural log, of the whole selected branch); DQ_PART
    [BH, C * n, G, D] (q dtype, entry e at e - entry_base); DK, DV [B, Tk, Hkv, D] and, with
    several chunks, their float32 sums DK_SUM, DV_SUM (zeroed before the first chunk); DK_PART,
    DV_PART [BH, parts_per_chunk, BLOCK_N, D] float32: the piece partials of groups with
    several pieces (PieceSlots: PIECE_END, PART_END, PART_START; _store_block_grads).
    ATOMIC (deterministic=False, one chunk): DQ_PART is a float32 [B, Tq, Hq, D] and DK_PART,
    DV_PART float32 [B, Tk, Hkv, D] accumulators, laid out like Q and K; every program adds its
    share with float32 atomics, in no fixed order (DK .. DV_SUM and the slot tables unused).
    HALVES (not with ATOMIC): every operand D wide is handled as two halves of BLOCK_D / 2
    columns (_selected_bwd_halves), so that the dQ product's accumulator is half as large."""
    bh = tl.program_id(1).to(tl.int64)
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    piece, first, end, active = _piece(WORK_GROUP, WORK_FIRST, CHUNK_START, GROUP_END, bh,
                                       tl.program_id(0), chunk, num_chunks, num_work, num_keys,
                                       piece_entries)
    if active:
        block, q_start, q_len, k_start, k_len = _block_of_piece(
            SELECTION, ORDER, ROW_SEQ, CU_Q, CU_K, bh, first, batch, kv_head, num_entries,
            NUM_SELECTED, stride_sb, stride_st, stride_sh)
        sole, slot = False, 0
        if not ATOMIC:
            sole, slot = _piece_slot(WORK_GROUP, PIECE_END, PART_END, CHUNK_START, PART_START,
                                     bh, piece, chunk, num_chunks, num_work, num_keys)
        if HALVES:
            _selected_bwd_halves(
                Q, K, V, DO, LSE, DELTA, DQ_PART, DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, ORDER,
                stride_qb, stride_qt, stride_qh, stride_kb, stride_kt, stride_kh,
                stride_lb, stride_lt, bh, batch, kv_head, sole, slot, first, end,
                block, q_start, q_len, k_start, k_len, num_entries, entry_base, part_entries,
                parts_per_chunk, chunk, num_chunks, select_block_size, scale, scale_log2,
                NUM_SELECTED, G, GP, HEAD_DIM, BLOCK_T, BLOCK_N, BLOCK_D, UPCAST, IEEE)
        else:
            _selected_bwd_whole(
                Q, K, V, DO, LSE, DELTA, DQ_PART, DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, ORDER,
                stride_qb, stride_qt, stride_qh, stride_kb, stride_kt, stride_kh,
                stride_lb, stride_lt, bh, batch, kv_head, sole, slot, first, end,
                block, q_start, q_len, k_start, k_len, num_entries, entry_base, part_entries,
                parts_per_chunk, chunk, num_chunks, select_block_size, scale, scale_log2,
                NUM_SELECTED, G, GP, HEAD_DIM, BLOCK_T, BLOCK_N, BLOCK_D, UPCAST, IEEE, ATOMIC)


@triton.jit
def _selected_bwd_dq(
    DQ, DQ_ACC, DQ_PART, SELECTION,
    stride_qb, stride_qt, stride_qh, stride_sb, stride_st, stride_sh,
    token_base, token_stop, num_kv_heads, part_entries, num_selected,
    G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr,
    UNROLL: tl.constexpr, ACCUMULATE: tl.constexpr,
):
    """Grid (cdiv(chunk tokens, BLOCK_T) * G, B * Hkv), one launch per token chunk: dQ = sum
    of the used slots' partials, in slot order (unused slots' rows hold stale data: tl.where
    keeps them out). ACCUMULATE: DQ = DQ_ACC (like DQ) + that sum, one rounding."""
    bh, member, local = _reduction_program(G, BLOCK_T)
    batch = bh // num_kv_heads
    kv_head = bh % num_kv_heads
    token = token_base + local
    t_ok = token < token_stop
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    part0 = (bh * part_entries + local * num_selected) * G + member
    acc = tl.zeros([BLOCK_T, BLOCK_D], tl.float32)
    for s0 in range(0, num_selected, UNROLL):
        for u in tl.static_range(UNROLL):
            s = s0 + u
            used = _used_slots(SELECTION, batch, token, kv_head, t_ok, s, num_selected,
                               stride_sb, stride_st, stride_sh)
            dq_s = tl.load(DQ_PART + (part0 + s * G)[:, None] * HEAD_DIM + d[None, :],
                           mask=(t_ok & (local * 0 + s < num_selected))[:, None] & d_ok[None, :],
                           other=0.0)
            acc += tl.where(used[:, None], dq_s.to(tl.float32), 0.0)
    head = kv_head * G + member
    offsets = batch * stride_qb + token[:, None] * stride_qt + head * stride_qh + d[None, :]
    mask = t_ok[:, None] & d_ok[None, :]
    if ACCUMULATE:
        acc += tl.load(DQ_ACC + offsets, mask=mask, other=0.0).to(tl.float32)
    tl.store(DQ + offsets, acc.to(DQ.dtype.element_ty), mask=mask)


@triton.jit
def _selected_bwd_dkdv(
    DK, DV, DK_SUM, DV_SUM, DK_PART, DV_PART, PIECE_END, PART_END, PART_START, GROUP_SEQ,
    GROUP_BLOCK, CU_K, stride_kb, stride_kt, stride_kh,
    num_kv_heads, num_groups, num_chunks, chunk, parts_per_chunk, num_seqs, select_block_size,
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Grid (NG, B * Hkv), one launch per token chunk, after its pieces. Group g (block
    GROUP_BLOCK[g] of sequence GROUP_SEQ[g]) with several pieces in the chunk: the sum of
    their partials, in piece order, is added to the earlier chunks' float32 sums DK_SUM,
    DV_SUM (laid out like DK: [B, Tk, Hkv, D]); the last chunk writes DK and DV, the others the
    sums. In the last chunk a group without pieces writes the sums (zeros with one chunk). A
    group's only piece did its own part (_store_block_grads)."""
    g = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    seq = tl.load(GROUP_SEQ + g)
    key = chunk * num_groups + g
    row = bh * num_chunks * num_groups
    piece_end = tl.load(PIECE_END + row + key)
    count = piece_end - tl.load(PIECE_END + row + key - 1, mask=key > 0, other=0)
    last = chunk == num_chunks - 1
    if (seq < num_seqs) & ((count > 1) | ((count == 0) & last)):
        batch = bh // num_kv_heads
        kv_head = bh % num_kv_heads
        k_start = tl.load(CU_K + seq)
        k_len = tl.load(CU_K + seq + 1) - k_start
        c = tl.arange(0, BLOCK_N)
        rel = tl.load(GROUP_BLOCK + g).to(tl.int64) * select_block_size + c
        key_ok = (c < select_block_size) & (rel < k_len)
        d = tl.arange(0, BLOCK_D)
        d_ok = d < HEAD_DIM
        mask = key_ok[:, None] & d_ok[None, :]
        kv_offsets = batch * stride_kb + (k_start + rel)[:, None] * stride_kt + kv_head * stride_kh + d[None, :]
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        if chunk > 0:
            dk += tl.load(DK_SUM + kv_offsets, mask=mask, other=0.0)
            dv += tl.load(DV_SUM + kv_offsets, mask=mask, other=0.0)
        slot0 = (tl.load(PART_END + row + key) - count
                 - tl.load(PART_START + bh * (num_chunks + 1) + chunk))
        for slot in range(slot0, slot0 + count):
            offsets = ((bh * parts_per_chunk + slot) * BLOCK_N + c)[:, None] * HEAD_DIM + d[None, :]
            dk += tl.load(DK_PART + offsets, mask=mask, other=0.0)
            dv += tl.load(DV_PART + offsets, mask=mask, other=0.0)
        if last:
            tl.store(DK + kv_offsets, dk.to(DK.dtype.element_ty), mask=mask)
            tl.store(DV + kv_offsets, dv.to(DV.dtype.element_ty), mask=mask)
        else:
            tl.store(DK_SUM + kv_offsets, dk, mask=mask)
            tl.store(DV_SUM + kv_offsets, dv, mask=mask)


def selected_attention_backward(do, q, k, v, indices, o, lse, cu_seqlens_q, cu_seqlens_k,
                                select_block_size: int, scale: float, rows: int = 0,
                                num_warps: int = 0, chunk_entries: int = 1024,
                                chunk_tokens: int = 0, workspace_bytes: int = 0,
                                num_stages: int = 0, max_registers: int = 0,
                                reduce_tokens: int = 16, deterministic: bool = True,
                                split_head_dim: bool | None = None,
                                dq_accumulate: Optional[torch.Tensor] = None):
    """do, q, o [B, Tq, Hq, D]; k, v [B, Tk, Hkv, D]; indices [B, Tq, Hkv, n]; lse [B, Tq, Hq]
    float32 from the forward -> (dq, dk, dv). All tensors contiguous. `dq_accumulate` (like
    q): a gradient of q from elsewhere, added into the returned dq. `chunk_entries` (a
    multiple of the tile's tokens) bounds the (token, slot) entries one program walks;
    `chunk_tokens` / `workspace_bytes` (default: backward_chunk_tokens, also the forward's
    chunks where their q rows fit Q_ROWS_BYTES); `num_stages` (0: backward_stages, or
    1 with deterministic=False); `max_registers` (common.register_cap) defaults to no cap:
    the piece kernel's two float32 dK/dV accumulators alone take 128 registers a thread, and
    a cap of 168 spills ~0.9 KB; `reduce_tokens` (tokens per dQ-reduction program, a power
    of two); `split_head_dim` (the piece kernel handles every D-wide operand as two halves,
    _selected_bwd_halves; from D = 32 on, deterministic only; None: backward_splits_head_dim).

    Workspace per token chunk: dQ partials C * n * Hq * D in q's dtype; dK/dV partials of the
    pieces of groups cut in several, at most 2 * B * Hkv * 2 * C * n / chunk_entries * l' * D
    float32 (piece_slots); with several chunks, float32 dK/dV sums (2 * B * Tk * Hkv * D).

    `deterministic=False`: one pass over all tokens that adds dQ, dK and dV into float32
    accumulators with atomics, so the gradients' last bits vary from run to run. No partials,
    no token chunks, no reductions; workspace: the three float32 accumulators (none for
    float32 inputs), and the chunking knobs do not apply.
    """
    batch, num_queries, num_heads, head_dim = q.shape
    seqlen_k, num_kv_heads, n = k.shape[1], k.shape[2], indices.shape[3]
    if q.numel() == 0 or k.numel() == 0:
        dq = torch.zeros_like(q) if dq_accumulate is None else dq_accumulate.clone()
        return dq, torch.zeros_like(k), torch.zeros_like(v)
    if not deterministic:
        # One stage: with backward_stages' 3 the atomic path's selected fwd+bwd took 16.66 ms at
        # G = 4 in the harness, against 14.65 with one (H200, sessions 14 and 13).
        return _selected_backward_atomic(do, q, k, v, indices, o, lse, cu_seqlens_q, cu_seqlens_k,
                                         select_block_size, scale, rows, num_warps, chunk_entries,
                                         num_stages or 1, max_registers, dq_accumulate)
    num_stages = num_stages or backward_stages(q, num_heads // num_kv_heads)
    if split_head_dim is None:
        split_head_dim = backward_splits_head_dim(q)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    # Rows per tile: 64 with 4 warps, or 32 with 8 warps past D = 128 (q, dO, K, V tiles and
    # two float32 accumulators must fit the SM). H100 sweep: benchmarks/results/.../tuning/.
    chunk_tokens = chunk_tokens or backward_chunk_tokens(q, n, workspace_bytes)
    group, sizes, block_n, (row_seq, cu_q, cu_k), index = _launch_setup(
        q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size,
        rows or (64 if head_dim <= 128 else 32), chunk_tokens)
    num_warps = num_warps or (4 if head_dim <= 128 else 8)
    piece_entries = max(sizes.block_t, chunk_entries // sizes.block_t * sizes.block_t)
    delta = row_dot(do, o)
    work = work_list(index, piece_entries)
    bh, num_entries = index.order.shape
    num_keys, num_work = index.group_end.shape[1], work.group.shape[1]
    num_groups = num_keys // index.num_chunks
    chunk_tokens = index.chunk_tokens
    part_entries = min(chunk_tokens, num_queries) * n

    slots = piece_slots(index, work, piece_entries)
    dq_part = torch.empty((bh, part_entries, group, head_dim), dtype=q.dtype, device=q.device)
    dk_part = torch.empty((bh, slots.per_chunk, block_n, head_dim), dtype=torch.float32,
                          device=q.device)
    dv_part = torch.empty_like(dk_part)
    # float32 dK/dV sums across chunks, zeroed: a block's first piece may come in any chunk.
    # One chunk never touches them.
    several = index.num_chunks > 1
    dk_sum = torch.zeros(k.shape, dtype=torch.float32, device=q.device) if several else dk_part
    dv_sum = torch.zeros(k.shape, dtype=torch.float32, device=q.device) if several else dv_part
    num_seqs = cu_k.shape[0] - 1
    sel = index.selection
    for chunk in range(index.num_chunks):
        token_base = chunk * chunk_tokens
        token_stop = min(num_queries, token_base + chunk_tokens)
        _selected_bwd_chunks[(work.per_chunk, bh)](
            q, k, v, do, lse, delta, dq_part, dk, dv, dk_sum, dv_sum, dk_part, dv_part,
            *_piece_tables(index, work, slots, row_seq, cu_q, cu_k, q, k, lse),
            num_kv_heads, num_entries, num_keys, num_work, index.num_chunks, chunk,
            token_base * n, part_entries, slots.per_chunk, select_block_size, piece_entries,
            scale, scale * LOG2E,
            NUM_SELECTED=n, G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim,
            BLOCK_T=sizes.block_t, BLOCK_N=block_n, BLOCK_D=sizes.block_d,
            **dot_modes(q.dtype), ATOMIC=False, HALVES=split_head_dim and sizes.block_d >= 32,
            num_warps=num_warps, num_stages=num_stages, **register_cap(max_registers),
        )
        _selected_bwd_dq[(triton.cdiv(token_stop - token_base, reduce_tokens) * group, bh)](
            dq, dq if dq_accumulate is None else dq_accumulate, dq_part, sel,
            dq.stride(0), dq.stride(1), dq.stride(2), sel.stride(0), sel.stride(1), sel.stride(2),
            token_base, token_stop, num_kv_heads, part_entries, n,
            G=group, HEAD_DIM=head_dim, BLOCK_T=reduce_tokens, BLOCK_D=sizes.block_d,
            UNROLL=SLOTS_IN_FLIGHT, ACCUMULATE=dq_accumulate is not None, num_warps=4,
        )
        _selected_bwd_dkdv[(num_groups, bh)](
            dk, dv, dk_sum, dv_sum, dk_part, dv_part, work.piece_end, slots.part_end,
            slots.chunk_start, index.group_seq, index.group_block, cu_k, k.stride(0), k.stride(1), k.stride(2),
            num_kv_heads, num_groups, index.num_chunks, chunk, slots.per_chunk, num_seqs,
            select_block_size, HEAD_DIM=head_dim, BLOCK_N=block_n, BLOCK_D=sizes.block_d,
            num_warps=4,
        )
    return dq, dk, dv


def backward_stages(q: torch.Tensor, group: int) -> int:
    """q [B, Tq, Hq, D] -> the piece kernel's default num_stages: with 2 or 3 the next tiles'
    rows (and with 3 the entries of the tile after them) load with cp.async during this tile.
    H200, 64K, bf16, D = 128, ms for 1 / 2 / 3 stages: G = 1: 2.94 / 2.79 / 2.73; G = 4:
    8.81 / 8.36 / 8.07; G = 16: 28.09 / 26.98 / 27.63 (benchmarks/results/NVIDIA_H200/session14/).
    Measured for 2-byte dtypes up to D = 128 only; float32 and D > 128 keep one stage."""
    if q.element_size() != 2 or q.shape[3] > 128:
        return 1
    return 2 if triton.next_power_of_2(group) >= 16 else 3


def backward_splits_head_dim(q: torch.Tensor) -> bool:
    """q [B, Tq, Hq, D] -> the piece kernel's default split_head_dim: on for 2-byte dtypes with
    D in (64, 128]. There, at backward_stages' 2-3 stages, ptxas serializes every wgmma of the
    whole-D kernel for lack of registers (C7512, offline sm_90a, D = 96 and 128), and the halves
    do not. H200, 64K, bf16, D = 128, ms whole / halves: G = 1: 2.73 / 2.46; G = 4: 8.07 /
    7.18; G = 16: 26.59 / 24.73 (benchmarks/results/NVIDIA_H200/session17/). Not at D <= 64
    (no serialization, and the halves take 8 KB more shared memory), nor for float32 or
    D > 128 (one stage, not timed)."""
    return q.element_size() == 2 and 64 < q.shape[3] <= 128


def _piece_tables(index, work, slots, row_seq, cu_q, cu_k, q, k, lse) -> tuple:
    """The arguments of _selected_bwd_chunks from SELECTION to stride_sh: the block index, the
    work list, the sequence tables, the piece slots (None: unused, atomic) and the strides (q
    and k contiguous)."""
    sel = index.selection
    part_end, part_start = (slots.part_end, slots.chunk_start) if slots else (work.first,) * 2
    return (sel, index.order, index.group_end, work.group, work.first, work.chunk_start,
            row_seq, cu_q, cu_k, work.piece_end, part_end, part_start,
            q.stride(0), q.stride(1), q.stride(2),
            k.stride(0), k.stride(1), k.stride(2), lse.stride(0), lse.stride(1),
            sel.stride(0), sel.stride(1), sel.stride(2))


def _selected_backward_atomic(do, q, k, v, indices, o, lse, cu_seqlens_q, cu_seqlens_k,
                              select_block_size, scale, rows, num_warps, chunk_entries,
                              num_stages, max_registers, dq_accumulate):
    """selected_attention_backward(deterministic=False): the piece kernel over one token chunk
    (all tokens), adding into float32 accumulators shaped like q, k, v (dq's starting from
    dq_accumulate, where given)."""
    head_dim = q.shape[3]
    group, sizes, block_n, (row_seq, cu_q, cu_k), index = _launch_setup(
        q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size,
        rows or (64 if head_dim <= 128 else 32), max(1, q.shape[1]))
    piece_entries = max(sizes.block_t, chunk_entries // sizes.block_t * sizes.block_t)
    work = work_list(index, piece_entries)
    bh, num_entries = index.order.shape
    accumulators = [torch.zeros(x.shape, dtype=torch.float32, device=x.device) for x in (q, k, v)]
    if dq_accumulate is not None:
        accumulators[0].copy_(dq_accumulate)
    _selected_bwd_chunks[(work.per_chunk, bh)](
        q, k, v, do, lse, row_dot(do, o), accumulators[0], k, v, k, v, *accumulators[1:],
        *_piece_tables(index, work, None, row_seq, cu_q, cu_k, q, k, lse),
        k.shape[2], num_entries, index.group_end.shape[1], work.group.shape[1], 1, 0,
        0, 0, work.per_chunk, select_block_size, piece_entries,
        scale, scale * LOG2E,
        NUM_SELECTED=indices.shape[3], G=group, GP=sizes.group_pow2, HEAD_DIM=head_dim,
        BLOCK_T=sizes.block_t, BLOCK_N=block_n, BLOCK_D=sizes.block_d,
        **dot_modes(q.dtype), ATOMIC=True, HALVES=False,
        num_warps=num_warps or (4 if head_dim <= 128 else 8), num_stages=num_stages,
        **register_cap(max_registers),
    )
    # One float32 accumulator at a time becomes its gradient (peak: the three + one gradient).
    return tuple(accumulators.pop(0).to(x.dtype) for x in (q, k, v))
