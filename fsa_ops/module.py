"""`NativeSparseAttention`: projections, compression, RoPE, gates and output projection
around `nsa_attention`. Everything here is ordinary PyTorch that Inductor compiles; the
attention itself is the `torch.ops.fsa` ops."""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from .functional import NSAConfig, nsa_attention


class CompressionRows(NamedTuple):
    """Which tokens each of the R compressed keys summarises, and the inverse map."""
    token_index: Tensor   # [R, block] rows into the token axis
    valid: Tensor         # [R] bool
    position: Tensor      # [R] in-sequence position of the row's last token, for RoPE
    cover: Tensor         # [T, block // stride] the entries of token_index that hold each
                          # token, as row * block + offset; R * block where there are fewer


def compression_rows(seqlen: int, block: int, stride: int, cu_seqlens: Optional[Tensor],
                     device) -> CompressionRows:
    """Which tokens each compressed key summarises, sized from shapes only.

    Unpacked: R = Tc and row i covers tokens [i*stride, i*stride + block).
    Packed (cu_seqlens): R = seqlen // stride and the sequence starting at token s owns rows
    s // stride + i for i < its Tc (see fsa_ops.reference); other rows are not valid.
    A token at position p of its sequence lies in rows i = p // stride - j of that sequence,
    j < block // stride, where 0 <= i < Tc (`cover`).
    """
    offsets = torch.arange(block, device=device)
    t = torch.arange(seqlen, device=device)
    if cu_seqlens is None:
        num_rows = max((seqlen - block) // stride + 1, 0)
        first = torch.arange(num_rows, device=device) * stride
        token_index = first[:, None] + offsets
        valid = torch.ones(num_rows, dtype=torch.bool, device=device)
        position = first + block - 1
        pos, row_base, count = t[:, None], 0, num_rows
    else:
        cu = cu_seqlens.long()
        starts, lengths = cu[:-1], cu[1:] - cu[:-1]
        seq_count = torch.where(lengths >= block, (lengths - block) // stride + 1, 0)
        num_rows = seqlen // stride
        r = torch.arange(num_rows, device=device)
        # The owner of row r is the last sequence whose first row is <= r; earlier sequences
        # that share that first row are shorter than the stride and own no row. (Searching all
        # of cu, whose last row T // stride exceeds every r, gives the same count as searching
        # `starts`; Inductor in torch 2.11 cannot lower searchsorted over a slice.)
        seq = (torch.searchsorted(cu // stride, r, right=True) - 1).clamp(min=0)
        i = r - starts[seq] // stride
        valid = (i >= 0) & (i < seq_count[seq])
        token_index = ((starts[seq] + i * stride)[:, None] + offsets).clamp(0, max(seqlen - 1, 0))
        position = i * stride + block - 1
        token_seq = token_sequences(t, cu)
        pos = (t - cu[token_seq])[:, None]
        row_base, count = (cu[token_seq] // stride)[:, None], seq_count[token_seq][:, None]
    i = pos // stride - torch.arange(block // stride, device=device)     # [T, m]
    entry = (row_base + i) * block + pos - i * stride
    cover = torch.where((i >= 0) & (i < count), entry, num_rows * block)
    return CompressionRows(token_index, valid, position, cover)


class GatherBlocks(torch.autograd.Function):
    """x [B, T, H, D] -> x[:, token_index] [B, R, block, H, D], whose gradient gathers through
    `cover` (each token sums the block // stride entries that hold it) instead of autograd's
    accumulating scatter (index_put). Inductor in torch 2.11 fused that scatter's zero fill
    into a kernel that read the buffer before the scatter ran, and so dropped the compression
    path's gradient of k in compiled packed layers (CPU); a gather has no such ordering, and
    is deterministic."""

    @staticmethod
    def forward(ctx, x: Tensor, token_index: Tensor, cover: Tensor) -> Tensor:
        ctx.save_for_backward(cover)
        return x[:, token_index]

    @staticmethod
    def backward(ctx, grad: Tensor):
        cover, = ctx.saved_tensors
        entries = grad.flatten(1, 2)                                    # [B, R * block, H, D]
        pad = entries.new_zeros((entries.shape[0], 1) + entries.shape[2:])   # 'no entry'
        entries = torch.cat([entries, pad], 1)
        return entries[:, cover].sum(2), None, None


class Compression(nn.Module):
    """φ of NSA: one vector per compressed block of `block` tokens.

    "mean": parameter-free mean pooling. "linear": a learned map of the block's tokens plus an
    intra-block position embedding, per kv head; it starts as mean pooling.
    """

    def __init__(self, kind: str, num_kv_heads: int, head_dim: int, block: int, stride: int,
                 device=None, dtype=None):
        super().__init__()
        if kind not in ("linear", "mean"):
            raise ValueError(f"NativeSparseAttention: compression must be 'linear' or 'mean', got {kind!r}")
        self.kind, self.block, self.stride = kind, block, stride
        if kind == "linear":
            eye = torch.eye(head_dim, device=device, dtype=dtype) / block
            self.weight = nn.Parameter(eye.expand(num_kv_heads, block, head_dim, head_dim).clone())
            self.position = nn.Parameter(
                0.02 * torch.randn(block, num_kv_heads, head_dim, device=device, dtype=dtype))

    def forward(self, x: Tensor, rows: CompressionRows) -> Tensor:
        """x [B, T, Hkv, D] -> [B, R, Hkv, D] (zero on rows that are not valid)."""
        blocks = GatherBlocks.apply(x, rows.token_index, rows.cover)  # [B, R, block, Hkv, D]
        if self.kind == "mean":
            out = blocks.mean(2)
        else:
            # [B, Hkv, R, block * D] @ [Hkv, block * D, D]: one batched matmul over B * Hkv.
            # (An einsum here reshapes a permuted view, which puts guards on R that
            # torch.export cannot prove for a dynamic sequence length.)
            x = (blocks + self.position).permute(0, 3, 1, 2, 4).contiguous().flatten(-2)
            out = torch.matmul(x, self.weight.flatten(1, 2)).transpose(1, 2).contiguous()
        return out.masked_fill(~rows.valid[None, :, None, None], 0.0)


def rotary(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    """RoPE (rotate-half form) of x [B, T, H, D] at positions [T], computed in float32."""
    half = x.shape[-1] // 2
    inv_freq = theta ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * inv_freq                 # [T, D/2]
    angles = torch.cat((angles, angles), -1)[:, None, :]            # [T, 1, D]
    xf = x.float()
    rotated = torch.cat((-xf[..., half:], xf[..., :half]), -1)
    return (xf * angles.cos() + rotated * angles.sin()).to(x.dtype)


def token_sequences(t: Tensor, cu: Tensor) -> Tensor:
    """The packed sequence [T] of each token t [T], from int64 offsets cu [N+1] (cu[0] = 0 <= t:
    searching all of cu is searching cu[1:]). Clamped to a real sequence, so offsets that fail
    validation (done by the first op, after the module's glue) still index in bounds."""
    return (torch.searchsorted(cu, t, right=True) - 1).clamp(0, max(cu.shape[0] - 2, 0))


def token_positions(seqlen: int, cu_seqlens: Optional[Tensor], device) -> Tensor:
    """In-sequence position of every token [T]."""
    t = torch.arange(seqlen, device=device)
    if cu_seqlens is None:
        return t
    cu = cu_seqlens.long()
    return t - cu[token_sequences(t, cu)]


class NativeSparseAttention(nn.Module):
    """NSA attention layer: x [B, T, hidden] -> [B, T, hidden].

    Packed input: x [1, T, hidden] with int32 `cu_seqlens` [N+1]. Keys are compressed before
    RoPE; a compressed key is then rotated to the position of the last token it covers.
    `attention_fn` computes the branches and the gate (default `fsa_ops.nsa_attention`;
    `fsa_ops.reference.nsa_attention` runs the pure-PyTorch oracle instead).
    """

    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, head_dim: int, *,
                 compression: str = "linear", config: NSAConfig = NSAConfig(),
                 rope_theta: float = 10000.0, bias: bool = False,
                 attention_fn: Callable = nsa_attention, device=None, dtype=None):
        super().__init__()
        if num_kv_heads < 1 or num_heads % num_kv_heads:
            raise ValueError(f"NativeSparseAttention: num_heads ({num_heads}) must be a positive "
                             f"multiple of num_kv_heads ({num_kv_heads})")
        factory = dict(device=device, dtype=dtype)
        self.hidden_size = hidden_size
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.config, self.rope_theta, self.attention_fn = config, rope_theta, attention_fn
        self.q_proj = nn.Linear(hidden_size, num_heads * head_dim, bias=bias, **factory)
        self.k_proj = nn.Linear(hidden_size, num_kv_heads * head_dim, bias=bias, **factory)
        self.v_proj = nn.Linear(hidden_size, num_kv_heads * head_dim, bias=bias, **factory)
        self.gate_proj = nn.Linear(hidden_size, 3 * num_heads, bias=True, **factory)
        self.o_proj = nn.Linear(num_heads * head_dim, hidden_size, bias=bias, **factory)
        args = (num_kv_heads, head_dim, config.compress_block_size, config.compress_stride)
        self.compress_k = Compression(compression, *args, **factory)
        self.compress_v = Compression(compression, *args, **factory)

    def forward(self, x: Tensor, cu_seqlens: Optional[Tensor] = None, *,
                return_indices: bool = False):
        """x [B, T, hidden] -> [B, T, hidden] (and the selected blocks [B, T, Hkv, n] when
        `return_indices`)."""
        if x.dim() != 3 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"NativeSparseAttention: x must have shape [B, T, {self.hidden_size}], "
                             f"got {tuple(x.shape)}")
        batch, seqlen, _ = x.shape
        cfg = self.config
        q = self.q_proj(x).unflatten(-1, (self.num_heads, self.head_dim))
        k = self.k_proj(x).unflatten(-1, (self.num_kv_heads, self.head_dim))
        v = self.v_proj(x).unflatten(-1, (self.num_kv_heads, self.head_dim))
        g_cmp, g_slc, g_swa = torch.sigmoid(self.gate_proj(x)).unflatten(-1, (3, self.num_heads)).unbind(-2)

        rows = compression_rows(seqlen, cfg.compress_block_size, cfg.compress_stride,
                                cu_seqlens, x.device)
        k_cmp = rotary(self.compress_k(k, rows), rows.position, self.rope_theta)
        v_cmp = self.compress_v(v, rows)

        positions = token_positions(seqlen, cu_seqlens, x.device)
        q, k = rotary(q, positions, self.rope_theta), rotary(k, positions, self.rope_theta)
        o, indices = self.attention_fn(q, k, v, k_cmp, v_cmp, g_cmp, g_slc, g_swa,
                              compress_block_size=cfg.compress_block_size,
                              compress_stride=cfg.compress_stride,
                              select_block_size=cfg.select_block_size,
                              num_selected_blocks=cfg.num_selected_blocks,
                              num_init_blocks=cfg.num_init_blocks,
                              num_local_blocks=cfg.num_local_blocks,
                              window_size=cfg.window_size,
                              cu_seqlens_q=cu_seqlens, cu_seqlens_k=cu_seqlens,
                              return_indices=True)
        y = self.o_proj(o.flatten(-2))
        return (y, indices) if return_indices else y
