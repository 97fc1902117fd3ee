"""What the Triton launchers share: block sizes and the per-query sequence tables."""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from ..validation import trusted_offsets

MODE_WINDOW = 0
MODE_COMPRESSED = 1

# Triton 3.9's interpreter multiplies bfloat16 matrices wrongly (float16 is right), so under
# TRITON_INTERPRET=1 bfloat16 dots run in float32. On a GPU the operands stay bfloat16.
INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"


def dot_modes(dtype: torch.dtype) -> dict:
    """Constexprs of `dot` for inputs of `dtype`: float32 inputs get float32 products, not the
    tf32 that Triton uses by default (as torch.matmul does unless tf32 is allowed)."""
    return dict(UPCAST=INTERPRETING and dtype == torch.bfloat16, IEEE=dtype == torch.float32)


@triton.jit
def dot(a, b, UPCAST: tl.constexpr, IEEE: tl.constexpr):
    """tl.dot(a, b) with float32 accumulation; see dot_modes."""
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32))
    if IEEE:
        return tl.dot(a, b, input_precision="ieee")
    return tl.dot(a, b)


def register_cap(max_registers: int) -> dict:
    """Launch options capping registers per thread (0: the compiler's choice). A kernel whose
    occupancy is bound by registers (ptxas takes up to 255 when nothing caps it) may fit more
    programs per SM under a cap, at the price of some spills."""
    return {"maxnreg": max_registers} if max_registers else {}


class BlockSizes(NamedTuple):
    group_pow2: int   # GP: query heads of a group stacked into the tile, rounded up to 2^k
    block_t: int      # tokens per tile; BLOCK_T * GP rows of the MMA
    block_n: int      # keys per inner step
    block_d: int      # head dim rounded up to 2^k
    num_warps: int
    num_stages: int


def block_sizes(group: int, head_dim: int, rows: int = 64) -> BlockSizes:
    """Tiles of `rows` query rows (G heads x BLOCK_T tokens), at least one token."""
    group_pow2 = triton.next_power_of_2(group)
    block_d = max(16, triton.next_power_of_2(head_dim))
    block_t = max(1, rows // group_pow2)
    block_n = 64 if block_d <= 128 else 32
    return BlockSizes(group_pow2, block_t, block_n, block_d, num_warps=4, num_stages=2)


def sequence_tables(q: torch.Tensor, cu_seqlens_q, cu_seqlens_k, seqlen_k: int):
    """(row_seq [Tq] int32, cu_q, cu_k) for the kernels, built on the device (no host sync).

    Packed: row_seq[r] is the sequence of query row r, and cu_q / cu_k are the trusted
    offsets. Batched: every row is in sequence 0, with cu_q = [0, Tq] and cu_k = [0, seqlen_k].
    """
    num_queries, device = q.shape[1], q.device
    if cu_seqlens_q is None:
        two = torch.arange(2, device=device, dtype=torch.int32)
        return (torch.zeros(num_queries, dtype=torch.int32, device=device),
                two * num_queries, two * seqlen_k)
    cu_q, cu_k = trusted_offsets(cu_seqlens_q, cu_seqlens_k, num_queries, seqlen_k)
    rows = torch.arange(num_queries, device=device, dtype=torch.int32)
    row_seq = torch.searchsorted(cu_q[1:].contiguous(), rows, right=True)
    return row_seq.clamp_(max=cu_q.shape[0] - 2).to(torch.int32), cu_q, cu_k


@triton.jit
def gqa_tile(num_queries, num_kv_heads, G: tl.constexpr, GP: tl.constexpr, BLOCK_T: tl.constexpr,
             SPAN: tl.constexpr):
    """The program's (batch, kv head) and its query rows, for grids (cdiv(Tq, BLOCK_T), B * Hkv).

    The [BLOCK_T * GP] rows are spans of SPAN rows (a multiple of GP) holding SPAN / GP tokens
    each: row m is query head kv_head * G + (m % SPAN) // (SPAN / GP) of token
    pid0 * BLOCK_T + (m // SPAN) * (SPAN / GP) + m % (SPAN / GP). SPAN = GP: row m is head m % GP
    of token m // GP. Rows past Tq or past the G heads are not `row_ok`. Offsets are int64:
    B * T * H * D may exceed 2**31.
    """
    TOKENS_PER_SPAN: tl.constexpr = SPAN // GP
    batch = tl.program_id(1).to(tl.int64) // num_kv_heads
    kv_head = tl.program_id(1) % num_kv_heads
    m = tl.arange(0, BLOCK_T * GP)
    token = (tl.program_id(0).to(tl.int64) * BLOCK_T + (m // SPAN) * TOKENS_PER_SPAN
             + m % TOKENS_PER_SPAN)
    member = (m % SPAN) // TOKENS_PER_SPAN
    row_ok = (token < num_queries) & (member < G)
    return batch, kv_head, token, kv_head * G + member, row_ok


@triton.jit
def full_span(lo, hi, all_lo, all_hi, BLOCK):
    """Tiles run from lo in steps of BLOCK up to hi; every row of the program sees every item of
    [all_lo, all_hi). Returns [full_lo, full_hi): the tiles that lie inside that span, a whole
    number of tiles from lo and inside [lo, hi) (empty when none does). Those tiles skip the
    mask; the tiles before and after them are masked. BLOCK may be a runtime value."""
    full_lo = tl.minimum(lo + tl.cdiv(tl.maximum(all_lo - lo, 0), BLOCK) * BLOCK, hi)
    full_hi = full_lo + tl.maximum(tl.minimum(all_hi, hi) - full_lo, 0) // BLOCK * BLOCK
    return full_lo, full_hi


@triton.jit
def place_by_rank(x, rank, col):
    """x, rank [T, NP] (each row of rank a permutation of col = arange(NP)) -> [T, NP] with
    x[t, c] in column rank[t, c]: one [T, NP, NP] one-hot sum, no sorting network (tl.sort's is
    ~50x slower in the interpreter that CI runs)."""
    return tl.sum(tl.where(rank[:, None, :] == col[None, :, None], x[:, None, :], 0), 2)


@triton.jit
def sort_rows(value, col):
    """value [T, NP] int32, col = arange(NP) -> every row sorted ascending. By rank (NP is
    small): column c goes to the number of columns that precede it, ties by column."""
    mine = value[:, :, None]                              # [T, c, 1]
    other = value[:, None, :]                             # [T, 1, c']
    earlier = col[None, None, :] < col[None, :, None]     # c' < c
    rank = tl.sum(((other < mine) | ((other == mine) & earlier)).to(tl.int32), 2)
    return place_by_rank(value, rank, col)


@triton.jit
def _row_dot(A, B, OUT, num_rows, HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr,
             BLOCK_D: tl.constexpr):
    """A, B [rows, D] contiguous -> OUT [rows] float32, OUT[r] = sum_d A[r, d] * B[r, d]."""
    r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    d = tl.arange(0, BLOCK_D)
    mask = (r < num_rows)[:, None] & (d < HEAD_DIM)[None, :]
    offsets = r[:, None] * HEAD_DIM + d[None, :]
    a = tl.load(A + offsets, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(B + offsets, mask=mask, other=0.0).to(tl.float32)
    tl.store(OUT + r, tl.sum(a * b, 1), mask=r < num_rows)


def row_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a, b [..., D] contiguous, same shape -> float32 [...]: the backward's delta = rowsum(dO * O)."""
    out = torch.empty(a.shape[:-1], dtype=torch.float32, device=a.device)
    head_dim = a.shape[-1]
    num_rows = out.numel()
    if num_rows == 0 or head_dim == 0:
        return out.zero_()
    block_d = max(16, triton.next_power_of_2(head_dim))
    block_r = max(1, 4096 // block_d)
    _row_dot[(triton.cdiv(num_rows, block_r),)](a, b, out, num_rows, HEAD_DIM=head_dim,
                                                 BLOCK_R=block_r, BLOCK_D=block_d)
    return out


@triton.jit
def load_backward_rows(Q, DO, LSE, DELTA, batch, token, head, row_ok, d, d_ok,
                       stride_qb, stride_qt, stride_qh, stride_lb, stride_lt):
    """What a backward kernel reads per query row (token, head): q and dO [M, D], the forward's
    lse in log2 units and delta = rowsum(dO * O) [M]; plus the rows' offsets and mask, which
    dQ shares with Q and dO."""
    row_offsets = batch * stride_qb + token[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :]
    row_mask = row_ok[:, None] & d_ok[None, :]
    q = tl.load(Q + row_offsets, mask=row_mask, other=0.0)
    do = tl.load(DO + row_offsets, mask=row_mask, other=0.0)
    lse2, delta = load_row_stats(LSE, DELTA, batch, token, head, row_ok, stride_lb, stride_lt)
    return q, do, lse2, delta, row_offsets, row_mask


@triton.jit
def load_row_stats(LSE, DELTA, batch, token, head, row_ok, stride_lb, stride_lt):
    """The forward's lse in log2 units and delta = rowsum(dO * O) [M] of the query rows
    (token, head); 0 where not row_ok."""
    stat = batch * stride_lb + token * stride_lt + head
    lse2 = tl.load(LSE + stat, mask=row_ok, other=0.0) * 1.4426950408889634
    delta = tl.load(DELTA + stat, mask=row_ok, other=0.0)
    return lse2, delta


@triton.jit
def recomputed_probabilities(s, lse2, scale_log2):
    """p = exp(scale * s - lse) of raw scores s [rows, keys], lse2 [rows] in log2 units, with
    no mask: a row with lse = -inf (nothing visible) gets p = 1, which its mask must remove.
    p <= 1 in exact arithmetic; the min enforces it where rounding puts the recomputed score
    above the forward's lse (float32 spaces scores of 1e10 by 1024 nats: exp would overflow).
    The exponent is one fused multiply-add."""
    return tl.exp2(tl.minimum(s * scale_log2 - lse2[:, None], 0.0))


@triton.jit
def attention_grads(q, do, k, v, lse2, delta, visible, scale_log2, UPCAST: tl.constexpr,
                    IEEE: tl.constexpr):
    """One [rows, keys] tile of the attention backward: p = exp(s - lse) where visible, and
    ds = p * (dO V^T - delta). dV += p^T dO, dK += ds^T Q * scale, dQ += ds K * scale."""
    p = tl.where(visible, recomputed_probabilities(dot(q, tl.trans(k), UPCAST, IEEE), lse2,
                                                   scale_log2), 0.0)
    ds = p * (dot(do, tl.trans(v), UPCAST, IEEE) - delta[:, None])
    return p, ds
