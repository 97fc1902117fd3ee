"""Comparison helpers shared by the tests, the main job and the benchmarks.

Errors are relative L2 norms, ‖out − ref‖ / ‖ref‖, against a float64 oracle. The bound for
each dtype follows from its rounding unit (the device's METHOD.md): float32 results land far
under 1e-3 but Triton's float32 dot runs in tf32 (~3e-4); float16 has 11 significant bits,
bfloat16 8, so one rounding costs ~5e-4 and ~4e-3 and a chain of them stays under 5e-3 and
2e-2.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

REL_TOL = {
    torch.float64: 1e-10,
    torch.float32: 1e-3,
    torch.float16: 5e-3,
    torch.bfloat16: 2e-2,
}


def rel_error(out: Tensor, ref: Tensor, floor: float = 0.0) -> float:
    """‖out − ref‖ / max(‖ref‖, floor) in float64 (0 when both are 0); NaN or Inf anywhere
    gives inf. `floor` is for sums that cancel (see attention_gradient_floors)."""
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    if not torch.isfinite(out).all():
        return float("inf")
    num, den = (out - ref).norm().item(), max(ref.norm().item(), floor)
    if den == 0.0:
        return num
    return num / den


def assert_close(out: Tensor, ref: Tensor, dtype: torch.dtype, what: str = "output"):
    """Raise AssertionError unless rel_error(out, ref) is within the bound for `dtype`."""
    if out.shape != ref.shape:
        raise AssertionError(f"{what}: shape {tuple(out.shape)} != reference {tuple(ref.shape)}")
    err = rel_error(out, ref)
    if not err <= REL_TOL[dtype]:
        raise AssertionError(f"{what}: relative error {err:.3e} > {REL_TOL[dtype]:.0e} ({dtype})")
    return err


def attention_gradient_floors(forward, backward, inputs, args, do, scale: float):
    """Norms of the terms of dq and dk that cancel, for comparing gradients (dv has none).

    dq_i = scale * sum_j p_ij (dp_ij - delta_i) k_j with delta_i = do_i . o_i: when a query sees
    one key, or its keys agree, the two parts cancel and ‖dq‖ says nothing about the rounding
    of its terms (a bf16 o alone shifts delta by ~4e-3 of itself). The delta part is
    scale * delta_i * (attention of q over the keys with the keys as values); dk's is
    scale * sum_i p_ij delta_i q_i, the dv of an upstream gradient delta_i q_i. Their norms are
    the natural floor of a relative error. forward/backward: a reference attention op and its
    backward; inputs (q, keys, values[, indices]) and args as the op takes them, float64.
    """
    q, keys = inputs[0], inputs[1]
    o, _ = forward(*inputs, *args)
    delta = (do * o).sum(-1, keepdim=True)
    mean_key, _ = forward(q, keys, keys, *inputs[3:], *args)
    dk_term = backward(delta * q, *inputs, *args)[2]
    return (scale * (delta * mean_key).norm().item(), scale * dk_term.norm().item(), 0.0)


def selection_gap(indices: Tensor, keys: Tensor) -> float:
    """How far a block selection falls short of the best one under the oracle's keys.

    indices [..., n] (a selection made at some precision), keys [..., nb] from
    `reference.block_selection_keys` in float64 (+inf forced, -inf invalid). Returns inf if a
    row picks an invalid block, misses a forced one, repeats one, or picks fewer blocks than it
    could; otherwise the largest shortfall, over rows, of the chosen blocks' total score against
    the best possible total. Near-tied scores give a shortfall near 0 whichever way they go.
    """
    n = indices.shape[-1]
    keys = keys.detach().double()
    idx = indices.long()
    picked = idx >= 0
    nb = keys.shape[-1]
    slots = torch.where(picked, idx, nb)                           # -1 padding -> a spare column
    chosen = torch.zeros((*keys.shape[:-1], nb + 1), dtype=torch.bool, device=keys.device)
    chosen = chosen.scatter(-1, slots, True)[..., :nb]
    if (picked.sum(-1) != chosen.sum(-1)).any():
        return float("inf")                                      # a block picked twice
    valid, forced = keys > float("-inf"), keys == float("inf")
    if (chosen & ~valid).any() or (forced & ~chosen).any():
        return float("inf")
    if (chosen.sum(-1) != valid.sum(-1).clamp(max=n)).any():
        return float("inf")
    free = torch.where(valid & ~forced, keys, torch.zeros_like(keys))
    free_slots = chosen.sum(-1, keepdim=True) - forced.sum(-1, keepdim=True)
    ranked = free.sort(-1, descending=True).values
    take = torch.arange(nb, device=keys.device) < free_slots
    best = (ranked * take).sum(-1)
    got = (free * chosen).sum(-1)
    return float((best - got).max()) if best.numel() else 0.0


class OracleAttention:
    """attention_fn for a float64 copy of a layer: the reference NSA with the block selection
    of the run under test forced in, recording that selection's `gap` (see selection_gap)."""

    def __init__(self, indices: Tensor):
        self.indices, self.gap = indices, None

    def __call__(self, q, k, v, k_cmp, v_cmp, g_cmp, g_slc, g_swa, **kw):
        from fsa_ops import reference
        scale = kw.get("scale") or q.shape[-1] ** -0.5
        keys = reference.block_selection_keys(
            q, k_cmp, kw.get("cu_seqlens_q"), kw.get("cu_seqlens_k"), k.shape[1],
            kw["compress_block_size"], kw["compress_stride"], kw["select_block_size"],
            kw["num_init_blocks"], kw["num_local_blocks"], scale)
        self.gap = selection_gap(self.indices, keys)
        return reference.nsa_attention(q, k, v, k_cmp, v_cmp, g_cmp, g_slc, g_swa,
                                       indices=self.indices, **kw)


_CALL_PATTERNS = [
    re.compile(r"^(?:\w+ = )?(cpp_fused_\w+)\("),              # Inductor C++ kernel (CPU)
    re.compile(r"^(triton_\w+)\.run\("),                       # Inductor Triton kernel (CUDA)
    re.compile(r"(extern_kernels\.\w+)\("),                    # mm, bmm, addmm, ...
    re.compile(r"torch\.ops\.(\w+\.\w+)\.\w+\("),              # custom ops and ATen fallbacks
    re.compile(r"^(?:\w+ = )?(aten\.\w+)(?:\.\w+)?\("),        # ATen fallbacks, short form
]


def compiled_calls(code: str) -> list[str]:
    """The ordered kernel launches and extern/custom-op calls of one Inductor output module
    (`torch._inductor.utils.run_and_get_code`), read from its `call` function."""
    calls, indent = [], None          # indent of `def call(` once found (a method in newer torch)
    for line in code.splitlines():
        stripped = line.strip()
        depth = len(line) - len(line.lstrip())
        if indent is None:
            if stripped.startswith("def call("):
                indent = depth
            continue
        if stripped and depth <= indent:
            break
        if stripped.startswith(("#", "assert_", "del ")):
            continue
        for pattern in _CALL_PATTERNS:
            match = pattern.search(stripped)
            if match:
                calls.append(match.group(1))
                break
    return calls
