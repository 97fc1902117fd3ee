"""Inductor integration for the `torch.ops.fsa` ops, registered at `import fsa_ops`.

What is registered, and how
- `fsa::gated_combine` and `fsa::gated_combine_backward` get *Inductor decompositions*: their
  float32 formulas from `fsa_ops.reference`, entered in Inductor's decomposition table
  (`torch._inductor.decomposition.register_decomposition`). AOTAutograd applies that table when
  it traces a compiled graph, after autograd has run, so the op's registered autograd still
  picks the backward (`gated_combine_backward`, itself decomposed). The result is plain ATen
  pointwise/reduction code that Inductor fuses with its neighbours: in the forward the gate's
  sigmoid, the three-branch mix and the cast feeding `o_proj` are one kernel; in the backward
  the gate gradients fuse with the upstream gradient's producer. `tests/test_compile.py` checks
  the kernel list.
- Eager mode never consults that table: `torch.ops.fsa.gated_combine` keeps its Triton kernel
  (one pass instead of ATen's several). `torch.export` keeps the op in the exported program;
  AOTInductor, which uses Inductor's table, decomposes it there.

Why this mechanism. The table is private API (`torch._inductor`), present and unchanged from
torch 2.0 through 2.13. The public routes do not fit: making the op
CompositeImplicitAutograd would decompose it in eager mode too (losing the fused kernel), and
`register_fake`/`register_autograd` do not influence lowering. A `register_lowering` (also
private, and lower-level) would have to re-express the maths in Inductor IR for no gain over
a decomposition into ops Inductor already lowers. If the private hook is missing in some
future torch, `DECOMPOSED` stays empty and the op remains an opaque, correct custom-op call.

What is not here, and why. Block selection has no glue outside its kernel: `select_blocks`
recomputes the scores, sums the group, maps compressed keys to blocks, applies the forced
blocks and takes the top n in one Triton kernel. The attention kernels' index preparation
(block -> tokens table, sequence tables) runs inside their custom ops, where the launchers
build it with fixed-size torch ops; lifting it into the graph would expose data-dependent
shapes for no fusion partner. Everything else around the kernels (projections, compression,
RoPE, gate sigmoid) is ordinary PyTorch in `fsa_ops.module`, which Inductor already fuses.
"""

from __future__ import annotations

import torch

from fsa_ops import reference

DECOMPOSED: list = []

try:
    from torch._inductor.decomposition import register_decomposition
except ImportError:             # a torch without Inductor's table: ops stay opaque
    register_decomposition = None

if register_decomposition is not None:
    for _op, _formula in ((torch.ops.fsa.gated_combine.default, reference.gated_combine),
                          (torch.ops.fsa.gated_combine_backward.default,
                           reference.gated_combine_backward)):
        register_decomposition(_op)(_formula)
        DECOMPOSED.append(_op)
