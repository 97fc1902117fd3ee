"""Hypothesis strategies: consistent NSA problem configurations (SPEC §5) and their tensors.

`problems()` draws everything an op needs: group size G (1..16, non-powers of two included),
kv heads, head dim, block parameters that satisfy d | l, d | l', l' >= d, n >= init + local,
a window, a dtype, and either a batch of equal-length sequences (queries possibly behind the
keys) or packed sequences of uneven length, 0 and 1 included. Lengths are deliberately not
multiples of any block size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from hypothesis import strategies as st

from fsa_ops import reference


@dataclass
class Problem:
    batch: int
    q_lens: list[int]            # per sequence (one entry per batch row when not packed)
    k_lens: list[int]
    packed: bool
    num_kv_heads: int
    group: int
    head_dim: int
    compress_block_size: int
    compress_stride: int
    select_block_size: int
    num_selected_blocks: int
    num_init_blocks: int
    num_local_blocks: int
    window_size: int
    dtype: torch.dtype
    seed: int

    @property
    def num_heads(self):
        return self.num_kv_heads * self.group

    @property
    def seqlen_q(self):
        return sum(self.q_lens) if self.packed else self.q_lens[0]

    @property
    def seqlen_k(self):
        return sum(self.k_lens) if self.packed else self.k_lens[0]

    @property
    def scale(self):
        return self.head_dim ** -0.5

    def cu_seqlens(self, device="cpu") -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        if not self.packed:
            return None, None
        def offsets(lens):
            return torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32,
                                device=device)
        return offsets(self.q_lens), offsets(self.k_lens)

    def block_kwargs(self):
        return dict(compress_block_size=self.compress_block_size,
                    compress_stride=self.compress_stride,
                    select_block_size=self.select_block_size,
                    num_selected_blocks=self.num_selected_blocks,
                    num_init_blocks=self.num_init_blocks,
                    num_local_blocks=self.num_local_blocks,
                    window_size=self.window_size)

    def compressed_rows(self):
        if self.packed:
            return self.seqlen_k // self.compress_stride
        return reference.num_compressed_keys(self.seqlen_k, self.compress_block_size,
                                             self.compress_stride)

    def tensors(self, device="cpu", dtype=None, requires_grad=False):
        """Fresh random q, k, v, k_cmp, v_cmp, gates (float64 by default via `dtype`)."""
        dtype = dtype or self.dtype
        gen = torch.Generator().manual_seed(self.seed)
        b = 1 if self.packed else self.batch
        hq, hkv, d = self.num_heads, self.num_kv_heads, self.head_dim

        def rand(*shape, positive=False):
            x = torch.rand(shape, generator=gen) if positive else torch.randn(shape, generator=gen)
            return x.to(device=device, dtype=dtype).requires_grad_(requires_grad)

        return dict(q=rand(b, self.seqlen_q, hq, d), k=rand(b, self.seqlen_k, hkv, d),
                    v=rand(b, self.seqlen_k, hkv, d),
                    k_cmp=rand(b, self.compressed_rows(), hkv, d),
                    v_cmp=rand(b, self.compressed_rows(), hkv, d),
                    g_cmp=rand(b, self.seqlen_q, hq, positive=True),
                    g_slc=rand(b, self.seqlen_q, hq, positive=True),
                    g_swa=rand(b, self.seqlen_q, hq, positive=True))

    def random_indices(self, device="cpu"):
        """A valid selection drawn at random: for each query, distinct causal blocks, ascending,
        -1 padded (duplicates and order are the op's own business, tested elsewhere)."""
        gen = torch.Generator().manual_seed(self.seed + 1)
        b = 1 if self.packed else self.batch
        n = self.num_selected_blocks
        out = torch.full((b, self.seqlen_q, self.num_kv_heads, n), -1, dtype=torch.int32)
        row = 0
        for s in range(len(self.q_lens)):
            lq, lk = self.q_lens[s], self.k_lens[s]
            for t in range(lq):
                last = (lk - lq + t) // self.select_block_size
                for h in range(self.num_kv_heads):
                    pick = torch.randperm(last + 1, generator=gen)[:n].sort().values
                    bi, ti = (0, row + t) if self.packed else (s, t)
                    out[bi, ti, h, :len(pick)] = pick.to(torch.int32)
            row += lq if self.packed else 0
        return out.to(device)


DTYPES = [torch.float32, torch.bfloat16, torch.float16]


@st.composite
def problems(draw, max_len: int = 160, head_dims=(16, 32, 48, 64), groups=(1, 2, 3, 4, 5, 7, 8, 16),
             dtypes=DTYPES, packed: Optional[bool] = None, max_batch: int = 2):
    stride = draw(st.sampled_from([8, 16]))
    block = stride * draw(st.integers(1, 3))
    select = stride * draw(st.integers(1, 4))
    init = draw(st.integers(0, 2))
    local = draw(st.integers(0, 2))
    n = draw(st.integers(max(1, init + local), init + local + 4))
    packed = draw(st.booleans()) if packed is None else packed
    if packed:
        k_lens = draw(st.lists(st.one_of(st.sampled_from([0, 1]), st.integers(2, max_len // 2)),
                               min_size=1, max_size=4))
        q_lens = [draw(st.integers(0, lk)) if draw(st.booleans()) else lk for lk in k_lens]
        batch = 1
    else:
        batch = draw(st.integers(1, max_batch))
        lk = draw(st.integers(1, max_len))
        lq = draw(st.integers(1, lk)) if draw(st.booleans()) else lk
        k_lens, q_lens = [lk] * batch, [lq] * batch
    return Problem(batch=batch, q_lens=q_lens, k_lens=k_lens, packed=packed,
                   num_kv_heads=draw(st.integers(1, 2)), group=draw(st.sampled_from(groups)),
                   head_dim=draw(st.sampled_from(head_dims)), compress_block_size=block,
                   compress_stride=stride, select_block_size=select, num_selected_blocks=n,
                   num_init_blocks=init, num_local_blocks=local,
                   window_size=draw(st.integers(1, 80)), dtype=draw(st.sampled_from(dtypes)),
                   seed=draw(st.integers(0, 2**31 - 1)))


def op_calls(p: Problem, t: dict, indices: torch.Tensor) -> list[tuple[str, tuple]]:
    """(op name, positional arguments) of every torch.ops.fsa op for problem p, tensors t
    (from p.tensors(), on any device) and a valid selection."""
    cu_q, cu_k = p.cu_seqlens(t["q"].device)
    cmp_args = (cu_q, cu_k, p.seqlen_k, p.compress_block_size, p.compress_stride)
    detached = {k: v.detach() for k, v in t.items()}
    q, k, v, kc, vc = (detached[n] for n in ("q", "k", "v", "k_cmp", "v_cmp"))
    # Backward ops have no autograd of their own (no double backward): feed them plain tensors.
    o_cmp, lse = reference.compressed_attention(q, kc, vc, *cmp_args, p.scale)
    o_slc, lse_slc = reference.selected_attention(q, k, v, indices, cu_q, cu_k,
                                                  p.select_block_size, p.scale)
    o_swa, lse_swa = reference.window_attention(q, k, v, cu_q, cu_k, p.window_size, p.scale)
    do = torch.randn_like(o_cmp)
    gates = [detached[n] for n in ("g_cmp", "g_slc", "g_swa")]
    return [
        ("compressed_attention", (t["q"], t["k_cmp"], t["v_cmp"], *cmp_args, p.scale)),
        ("select_blocks", (q, kc, lse, *cmp_args, p.select_block_size, p.num_selected_blocks,
                           p.num_init_blocks, p.num_local_blocks, p.scale)),
        ("selected_attention", (t["q"], t["k"], t["v"], indices, cu_q, cu_k, p.select_block_size,
                                p.scale)),
        ("window_attention", (t["q"], t["k"], t["v"], cu_q, cu_k, p.window_size, p.scale)),
        ("gated_combine", (o_cmp.detach().requires_grad_(), o_slc.detach().requires_grad_(),
                           o_swa.detach().requires_grad_(), t["g_cmp"], t["g_slc"], t["g_swa"])),
        ("compressed_attention_backward", (do, q, kc, vc, o_cmp, lse, *cmp_args, p.scale)),
        ("selected_attention_backward", (do, q, k, v, indices, o_slc, lse_slc, cu_q, cu_k,
                                         p.select_block_size, p.scale)),
        ("window_attention_backward", (do, q, k, v, o_swa, lse_swa, cu_q, cu_k, p.window_size,
                                       p.scale)),
        ("gated_combine_backward", (do, o_cmp, o_slc, o_swa, *gates)),
    ]
