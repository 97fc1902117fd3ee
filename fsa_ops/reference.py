"""The oracle: SPEC §2 in plain PyTorch, one rule at a time.

Written for clarity, not speed. Every op of the package has a function here with the same
arguments; the custom ops use these as their default kernel, and every Triton kernel is
checked against them. Pass float64 tensors to get the oracle; other float dtypes are
computed in float32 and cast back.

Layout (SPEC §2, §3):
    q          [B, Tq, Hq, D]      query head h reads kv head h // G, G = Hq // Hkv
    k, v       [B, Tk, Hkv, D]     Tq <= Tk: query t sits at absolute position Tk - Tq + t
    k_cmp      [B, Tc, Hkv, D]     Tc = num_compressed_keys(Tk); compressed key i covers
                                   tokens [i*stride, i*stride + block - 1]
    indices    [B, Tq, Hkv, n]     selected block ids, ascending, -1 padding at the end
    gates      [B, Tq, Hq]

Packed sequences (B == 1, int32 cu_seqlens_q / cu_seqlens_k of N+1 offsets): every rule
applies per sequence with positions restarting at 0. Packed compressed keys use a layout
whose size depends on shapes only: k_cmp is [1, Tk // stride, Hkv, D] and compressed key i
of the sequence starting at key row s sits at row s // stride + i (rows no sequence owns are
ignored). Block ids in `indices` count from the start of their own sequence.

Each function walks the queries in chunks so memory stays O(chunk * keys per query).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
from torch import Tensor

from .validation import trusted_offsets

# Elements of the largest per-chunk intermediate: 64 MiB in float64 on a CPU, 8x that on a GPU.
_CHUNK_ELEMENTS_CPU = 1 << 23
_CHUNK_ELEMENTS_ACCELERATOR = 1 << 26


def num_compressed_keys(seqlen: int, compress_block_size: int, compress_stride: int) -> int:
    """Tc: compressed keys of a sequence of `seqlen` tokens."""
    if seqlen < compress_block_size:
        return 0
    return (seqlen - compress_block_size) // compress_stride + 1


def num_blocks(seqlen: int, select_block_size: int) -> int:
    """Selection blocks that cover a sequence of `seqlen` tokens."""
    return -(-seqlen // select_block_size)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def overlap_weights(
    num_cmp: int, num_blk: int, compress_block_size: int, compress_stride: int,
    select_block_size: int, dtype: torch.dtype = torch.float64, device=None,
) -> Tensor:
    """W [num_cmp, num_blk]: W[i, j] = |span(i) ∩ block(j)| / stride (SPEC §2, block selection)."""
    i = torch.arange(num_cmp, device=device)[:, None]
    j = torch.arange(num_blk, device=device)[None, :]
    lo = torch.maximum(i * compress_stride, j * select_block_size)
    hi = torch.minimum(i * compress_stride + compress_block_size, (j + 1) * select_block_size)
    return (hi - lo).clamp(min=0).to(dtype) / compress_stride


# ---------------------------------------------------------------------------------------------
# Walking sequences and query chunks
# ---------------------------------------------------------------------------------------------

class _Sequence(NamedTuple):
    batch: int
    q_start: int   # first query row of the sequence in q[batch]
    q_len: int
    k_start: int   # first key row of the sequence in k[batch]
    k_len: int


def _sequences(q: Tensor, k_len_total: int, cu_seqlens_q, cu_seqlens_k) -> Iterator[_Sequence]:
    if cu_seqlens_q is None:
        for b in range(q.shape[0]):
            yield _Sequence(b, 0, q.shape[1], 0, k_len_total)
        return
    # The identity on valid offsets; invalid ones (check_values=False) are clamped exactly as
    # the kernels clamp them, so every implementation gives the same answer.
    cu_q, cu_k = trusted_offsets(cu_seqlens_q, cu_seqlens_k, q.shape[1], k_len_total)
    cq, ck = cu_q.tolist(), cu_k.tolist()
    for s in range(len(cq) - 1):
        yield _Sequence(0, cq[s], cq[s + 1] - cq[s], ck[s], ck[s + 1] - ck[s])


class _Chunk(NamedTuple):
    """Queries q[batch, rows] and the keys each of them may read.

    key_rows [N|1, Hkv|1, L] int64: rows of k[batch] (clamped into range where not visible)
    visible  [N|1, Hkv|1, L] bool:   whether the query attends that key
    positions [N] int64:             absolute position of each query inside its sequence
    """
    batch: int
    rows: slice
    positions: Tensor
    key_rows: Tensor
    visible: Tensor
    seq: _Sequence


def _query_chunks(seq: _Sequence, keys_per_query: int, heads: int, width: int, device):
    """Split a sequence's queries so that N * heads * keys_per_query * width stays bounded."""
    per_query = max(1, heads * max(keys_per_query, 1) * width)
    cpu = torch.device(device).type == "cpu"
    budget = _CHUNK_ELEMENTS_CPU if cpu else _CHUNK_ELEMENTS_ACCELERATOR
    size = max(1, budget // per_query)
    for t0 in range(0, seq.q_len, size):
        t1 = min(seq.q_len, t0 + size)
        positions = seq.k_len - seq.q_len + torch.arange(t0, t1, device=device)
        yield slice(seq.q_start + t0, seq.q_start + t1), positions


def _compressed_chunks(q, k_cmp, seqlen_k, cu_seqlens_q, cu_seqlens_k, block, stride):
    """Compressed attention: query t sees compressed key i iff i*stride + block - 1 <= t."""
    hkv, d = k_cmp.shape[2], q.shape[3]
    for seq in _sequences(q, seqlen_k, cu_seqlens_q, cu_seqlens_k):
        tc = num_compressed_keys(seq.k_len, block, stride)
        first = seq.k_start // stride
        i = torch.arange(tc, device=q.device)
        # Keys are shared by the chunk: per query only the [Hkv, G, tc] scores grow.
        for rows, pos in _query_chunks(seq, max(tc, d), hkv, q.shape[2] // hkv, q.device):
            visible = (i * stride + block - 1)[None, :] <= pos[:, None]          # [N, tc]
            yield _Chunk(seq.batch, rows, pos, (first + i)[None, None, :], visible[:, None, :], seq)


def _selected_chunks(q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size):
    """Selected attention: query t sees key u iff u is in one of its blocks and u <= t."""
    hkv, n, d = k.shape[2], indices.shape[3], q.shape[3]
    offs = torch.arange(select_block_size, device=q.device)
    for seq in _sequences(q, k.shape[1], cu_seqlens_q, cu_seqlens_k):
        for rows, pos in _query_chunks(seq, n * select_block_size, hkv, d, q.device):
            blocks = indices[seq.batch, rows].long()                               # [N, Hkv, n]
            # A block named twice counts once: drop every slot equal to an earlier slot.
            same = blocks[..., :, None] == blocks[..., None, :]
            repeat = torch.tril(same, diagonal=-1).any(-1)
            kept = (blocks >= 0) & ~repeat
            rel = blocks[..., None] * select_block_size + offs                    # [N, Hkv, n, l']
            visible = kept[..., None] & (rel <= pos[:, None, None, None]) & (rel < seq.k_len)
            key_rows = seq.k_start + rel.clamp(0, max(seq.k_len - 1, 0))
            yield _Chunk(seq.batch, rows, pos, key_rows.flatten(2), visible.flatten(2), seq)


def _window_chunks(q, k, cu_seqlens_q, cu_seqlens_k, window_size):
    """Sliding window: query t sees key u iff t - w < u <= t."""
    hkv, d = k.shape[2], q.shape[3]
    offs = torch.arange(window_size, device=q.device)
    for seq in _sequences(q, k.shape[1], cu_seqlens_q, cu_seqlens_k):
        for rows, pos in _query_chunks(seq, window_size, hkv, d, q.device):
            rel = pos[:, None] - window_size + 1 + offs                            # [N, w]
            visible = rel >= 0
            key_rows = seq.k_start + rel.clamp(min=0)
            yield _Chunk(seq.batch, rows, pos, key_rows[:, None, :], visible[:, None, :], seq)


# ---------------------------------------------------------------------------------------------
# Masked attention on one chunk, forward and backward
# ---------------------------------------------------------------------------------------------

def _grouped(x: Tensor, hkv: int) -> Tensor:
    """[N, Hq, D] -> [N, Hkv, G, D]: query head h = kv_head * G + member."""
    return x.unflatten(1, (hkv, x.shape[1] // hkv))


def _flat_rows(key_rows: Tensor, hkv: int) -> Tensor:
    """key_rows [N|1, Hkv|1, L] -> rows of x.flatten(0, 1) ([T * Hkv, D]) as [N|1, Hkv, L]."""
    heads = torch.arange(hkv, device=key_rows.device)[None, :, None]
    return key_rows * hkv + heads


def _gather_keys(x: Tensor, key_rows: Tensor) -> Tensor:
    """x [T, Hkv, D], key_rows [N|1, Hkv|1, L] -> [N|1, Hkv, L, D]."""
    flat = _flat_rows(key_rows, x.shape[1])
    return x.flatten(0, 1).index_select(0, flat.flatten()).view(*flat.shape, x.shape[2])


def _scatter_add_keys(out: Tensor, key_rows: Tensor, grads: Tensor):
    """out [T, Hkv, D] += grads [N, Hkv, L, D] at the rows named by key_rows [N|1, Hkv|1, L]."""
    flat = _flat_rows(key_rows, out.shape[1]).expand(grads.shape[:3])
    out.view(-1, out.shape[2]).index_add_(0, flat.flatten(), grads.flatten(0, 2))


def _probabilities(q: Tensor, k: Tensor, visible: Tensor, scale: float):
    """q [N, Hkv, G, D], k [N|1, Hkv, L, D], visible [N|1, Hkv|1, L] -> p [N, Hkv, G, L], lse [N, Hkv, G].

    Rows that see no key get p = 0 and lse = -inf, with no NaN in values or gradients.
    """
    visible = visible[:, :, None, :]
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~visible, float("-inf"))
    if scores.shape[-1] == 0:                                # no keys at all
        shift = scores.new_zeros((*scores.shape[:-1], 1))
    else:
        shift = scores.amax(-1, keepdim=True).detach()
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    weights = torch.exp(scores - shift)                     # exactly 0 where not visible
    total = weights.sum(-1, keepdim=True)
    seen = total > 0
    safe_total = torch.where(seen, total, torch.ones_like(total))
    p = weights / safe_total
    lse = torch.where(seen, shift + torch.log(safe_total), torch.full_like(total, float("-inf")))
    return p, lse.squeeze(-1)


def _attend_backward(do: Tensor, q: Tensor, k: Tensor, v: Tensor, visible: Tensor, scale: float):
    """Gradients of o = softmax(q k^T * scale) v on one chunk (shapes as _probabilities):
    dq [N, Hkv, G, D] and dk, dv [N|1, Hkv, L, D] (summed over the chunk when keys are shared)."""
    p, _ = _probabilities(q, k, visible, scale)
    o = p @ v
    dp = do @ v.transpose(-1, -2)                          # [N, Hkv, G, L]
    delta = (do * o).sum(-1, keepdim=True)
    ds = p * (dp - delta) * scale
    if k.shape[0] == 1:          # keys shared by every query of the chunk: reduce over queries now
        return ds @ k, torch.einsum("nhgl,nhgd->hld", ds, q)[None], \
            torch.einsum("nhgl,nhgd->hld", p, do)[None]
    return ds @ k, ds.transpose(-1, -2) @ q, p.transpose(-1, -2) @ do


def _forward(q, k, v, chunks, scale):
    """o [B, Tq, Hq, D] in q's dtype, lse [B, Tq, Hq] (float32, float64 for float64 input)."""
    cdt = compute_dtype(q.dtype)
    hkv = k.shape[2]
    o = torch.zeros(q.shape, dtype=cdt, device=q.device)
    lse = torch.full(q.shape[:3], float("-inf"), dtype=cdt, device=q.device)
    for c in chunks:
        qg = _grouped(q[c.batch, c.rows].to(cdt), hkv)
        kg = _gather_keys(k[c.batch].to(cdt), c.key_rows)
        vg = _gather_keys(v[c.batch].to(cdt), c.key_rows)
        p, lse_c = _probabilities(qg, kg, c.visible, scale)
        o[c.batch, c.rows] = (p @ vg).flatten(1, 2)
        lse[c.batch, c.rows] = lse_c.flatten(1)
    return o.to(q.dtype), lse.to(cdt)


def _backward(do, q, k, v, chunks, scale):
    """dq, dk, dv in the dtypes of q, k, v."""
    cdt = compute_dtype(q.dtype)
    hkv = k.shape[2]
    dq = torch.zeros(q.shape, dtype=cdt, device=q.device)
    dk = torch.zeros(k.shape, dtype=cdt, device=q.device)
    dv = torch.zeros(v.shape, dtype=cdt, device=q.device)
    for c in chunks:
        qg = _grouped(q[c.batch, c.rows].to(cdt), hkv)
        dog = _grouped(do[c.batch, c.rows].to(cdt), hkv)
        kg = _gather_keys(k[c.batch].to(cdt), c.key_rows)
        vg = _gather_keys(v[c.batch].to(cdt), c.key_rows)
        dq_c, dk_c, dv_c = _attend_backward(dog, qg, kg, vg, c.visible, scale)
        dq[c.batch, c.rows] = dq_c.flatten(1, 2)
        _scatter_add_keys(dk[c.batch], c.key_rows, dk_c)
        _scatter_add_keys(dv[c.batch], c.key_rows, dv_c)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


# ---------------------------------------------------------------------------------------------
# The ops
# ---------------------------------------------------------------------------------------------

def compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                         compress_block_size: int, compress_stride: int, scale: float):
    """Attention over compressed keys -> (o [B,Tq,Hq,D], lse [B,Tq,Hq]). No visible key: o = 0, lse = -inf."""
    chunks = _compressed_chunks(q, k_cmp, seqlen_k, cu_seqlens_q, cu_seqlens_k,
                                compress_block_size, compress_stride)
    return _forward(q, k_cmp, v_cmp, chunks, scale)


def compressed_attention_backward(do, q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                                  compress_block_size: int, compress_stride: int, scale: float):
    """(dq, dk_cmp, dv_cmp). Recomputes the forward exactly; kernels may use saved o and lse instead."""
    chunks = _compressed_chunks(q, k_cmp, seqlen_k, cu_seqlens_q, cu_seqlens_k,
                                compress_block_size, compress_stride)
    return _backward(do, q, k_cmp, v_cmp, chunks, scale)


def selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k, select_block_size: int,
                       scale: float):
    """Attention over the keys of each query's selected blocks (causal) -> (o, lse)."""
    chunks = _selected_chunks(q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size)
    return _forward(q, k, v, chunks, scale)


def selected_attention_backward(do, q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                select_block_size: int, scale: float):
    chunks = _selected_chunks(q, k, indices, cu_seqlens_q, cu_seqlens_k, select_block_size)
    return _backward(do, q, k, v, chunks, scale)


def window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size: int, scale: float):
    """Attention over the last `window_size` keys up to and including the query -> (o, lse)."""
    return _forward(q, k, v, _window_chunks(q, k, cu_seqlens_q, cu_seqlens_k, window_size), scale)


def window_attention_backward(do, q, k, v, cu_seqlens_q, cu_seqlens_k, window_size: int,
                              scale: float):
    return _backward(do, q, k, v, _window_chunks(q, k, cu_seqlens_q, cu_seqlens_k, window_size), scale)


def block_scores(q, k_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k: int, compress_block_size: int,
                 compress_stride: int, select_block_size: int, scale: float) -> Tensor:
    """score[b, t, g, j] of SPEC §2 as [B, Tq, Hkv, ceil(Tk / l')] (0 past a sequence's blocks)."""
    cdt = compute_dtype(q.dtype)
    hkv = k_cmp.shape[2]
    total_blocks = num_blocks(seqlen_k, select_block_size)
    scores = torch.zeros((*q.shape[:2], hkv, total_blocks), dtype=cdt, device=q.device)
    chunks = _compressed_chunks(q, k_cmp, seqlen_k, cu_seqlens_q, cu_seqlens_k,
                                compress_block_size, compress_stride)
    for c in chunks:
        qg = _grouped(q[c.batch, c.rows].to(cdt), hkv)
        kg = _gather_keys(k_cmp[c.batch].to(cdt), c.key_rows)
        p, _ = _probabilities(qg, kg, c.visible, scale)                      # [N, Hkv, G, Tc]
        nb = num_blocks(c.seq.k_len, select_block_size)
        w = overlap_weights(kg.shape[2], nb, compress_block_size, compress_stride,
                            select_block_size, cdt, q.device)
        scores[c.batch, c.rows, :, :nb] = p.sum(2) @ w                       # all G heads vote
    return scores


def selection_keys(scores: Tensor, positions: Tensor, num_init_blocks: int,
                   num_local_blocks: int, select_block_size: int) -> Tensor:
    """scores [N, Hkv, nb], positions [N] -> the selection rule's keys [N, Hkv, nb]:
    +inf for forced blocks, -inf for invalid ones, the score otherwise.

    Valid blocks: j <= t // l'. Forced when valid: j < init, and t//l' - local < j <= t//l'.
    """
    j = torch.arange(scores.shape[-1], device=scores.device)[None, None, :]
    last = (positions // select_block_size)[:, None, None]
    valid = j <= last
    forced = valid & ((j < num_init_blocks) | (j > last - num_local_blocks))
    key = torch.where(forced, torch.full_like(scores, float("inf")), scores)
    return key.masked_fill(~valid, float("-inf"))


def top_blocks(keys: Tensor, num_selected_blocks: int) -> Tensor:
    """keys [N, Hkv, nb] -> indices [N, Hkv, n] int32: the n largest keys that are not -inf,
    ties to the smaller j, ascending, -1 padding at the end."""
    nb, n = keys.shape[-1], num_selected_blocks
    order = torch.sort(keys, dim=-1, descending=True, stable=True).indices[..., :n]
    chosen = keys.gather(-1, order) > float("-inf")
    picked = torch.where(chosen, order, torch.full_like(order, nb)).sort(-1).values
    picked = torch.where(picked == nb, torch.full_like(picked, -1), picked)
    if picked.shape[-1] < n:
        picked = torch.nn.functional.pad(picked, (0, n - picked.shape[-1]), value=-1)
    return picked.to(torch.int32)


def block_selection_keys(q, k_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                         compress_block_size: int, compress_stride: int, select_block_size: int,
                         num_init_blocks: int, num_local_blocks: int, scale: float) -> Tensor:
    """selection_keys for every query: [B, Tq, Hkv, ceil(Tk / l')] (-inf past a sequence's blocks)."""
    scores = block_scores(q, k_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k, compress_block_size,
                          compress_stride, select_block_size, scale)
    keys = torch.full_like(scores, float("-inf"))
    for seq in _sequences(q, seqlen_k, cu_seqlens_q, cu_seqlens_k):
        rows = slice(seq.q_start, seq.q_start + seq.q_len)
        positions = seq.k_len - seq.q_len + torch.arange(seq.q_len, device=q.device)
        nb = num_blocks(seq.k_len, select_block_size)
        keys[seq.batch, rows, :, :nb] = selection_keys(scores[seq.batch, rows, :, :nb], positions,
                                                       num_init_blocks, num_local_blocks,
                                                       select_block_size)
    return keys


def select_blocks(q, k_cmp, lse, cu_seqlens_q, cu_seqlens_k, seqlen_k: int,
                  compress_block_size: int, compress_stride: int, select_block_size: int,
                  num_selected_blocks: int, num_init_blocks: int, num_local_blocks: int,
                  scale: float) -> Tensor:
    """indices [B, Tq, Hkv, n] int32. `lse` is there for kernels; the oracle recomputes the softmax."""
    del lse
    keys = block_selection_keys(q, k_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                compress_block_size, compress_stride, select_block_size,
                                num_init_blocks, num_local_blocks, scale)
    return top_blocks(keys.flatten(0, 1), num_selected_blocks).unflatten(0, keys.shape[:2])


def gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa) -> Tensor:
    """o = g_cmp * o_cmp + g_slc * o_slc + g_swa * o_swa, gates [B,T,Hq] broadcast over D."""
    cdt = compute_dtype(o_cmp.dtype)
    out = sum(g.to(cdt)[..., None] * o.to(cdt)
              for g, o in ((g_cmp, o_cmp), (g_slc, o_slc), (g_swa, o_swa)))
    return out.to(o_cmp.dtype).contiguous()


def accumulate_dq(grads, dq_accumulate):
    """A backward op's (dq, dk, dv) with dq_accumulate (a gradient of q from elsewhere, or
    None) added to dq."""
    if dq_accumulate is None:
        return grads
    dq, dk, dv = grads
    cdt = compute_dtype(dq.dtype)
    return (dq.to(cdt) + dq_accumulate.to(cdt)).to(dq.dtype), dk, dv


def gated_combine_backward(do, o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa):
    """(d o_cmp, d o_slc, d o_swa, d g_cmp, d g_slc, d g_swa)."""
    cdt = compute_dtype(o_cmp.dtype)
    dof = do.to(cdt)
    branch_grads = [(dof * g.to(cdt)[..., None]).to(o.dtype).contiguous()
                    for g, o in ((g_cmp, o_cmp), (g_slc, o_slc), (g_swa, o_swa))]
    gate_grads = [(dof * o.to(cdt)).sum(-1).to(g.dtype).contiguous()
                  for g, o in ((g_cmp, o_cmp), (g_slc, o_slc), (g_swa, o_swa))]
    return (*branch_grads, *gate_grads)


def nsa_attention(q, k, v, k_cmp, v_cmp, g_cmp, g_slc, g_swa, *, compress_block_size=32,
                  compress_stride=16, select_block_size=64, num_selected_blocks=16,
                  num_init_blocks=1, num_local_blocks=2, window_size=512, scale=None,
                  cu_seqlens_q=None, cu_seqlens_k=None, indices=None, return_indices=False):
    """The whole NSA attention from the functions above; differentiable through autograd.

    Same arguments as fsa_ops.nsa_attention (cu_seqlens given as the q/k pair). `indices`
    replaces the block selection (to check the other branches against a selection made
    elsewhere, since near-tied block scores may be ordered differently at another precision).
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    seqlen_k = k.shape[1]
    o_cmp, lse = compressed_attention(q, k_cmp, v_cmp, cu_seqlens_q, cu_seqlens_k, seqlen_k,
                                      compress_block_size, compress_stride, scale)
    if indices is None:
        indices = select_blocks(q.detach(), k_cmp.detach(), lse.detach(), cu_seqlens_q,
                                cu_seqlens_k, seqlen_k, compress_block_size, compress_stride,
                                select_block_size, num_selected_blocks, num_init_blocks,
                                num_local_blocks, scale)
    o_slc, _ = selected_attention(q, k, v, indices, cu_seqlens_q, cu_seqlens_k,
                                  select_block_size, scale)
    o_swa, _ = window_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, window_size, scale)
    o = gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return (o, indices) if return_indices else o
