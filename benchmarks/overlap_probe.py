"""How much would running NSA branches on a second CUDA stream save? A probe, not a feature.

The three branches are independent until the gate: the window branch needs nothing from the
others, and after gated_combine's backward the three branch backwards need nothing from each
other. The selected forward and backward and select_blocks are partly memory- and
latency-bound, the range branches compute-bound, so they might share the GPU. Autograd runs a
node's backward on the stream its forward ran on, so a branch put on a side stream in the
forward goes there in the backward too.

Variants, each a copy of `fsa_ops.nsa_attention`'s op calls (SPEC §6 workload, bf16, Hkv = 4,
D = 128, unpacked):
- `serial`: `fsa_ops.nsa_attention` itself;
- `window_side`: the window branch (forward, so also backward) on a side stream;
- `window_cmp_side`: also the compressed branch's gradient node (`_LateCompressed`) made on
  the side stream, so the compressed backward runs beside the selected one.

Prints, per G: forward ms, forward+backward ms (`do_bench` median), the fwd+bwd peak memory
above the inputs, and the largest relative error of the output and gradients against
`serial`.

    python benchmarks/overlap_probe.py [--seqlen 65536] [--groups 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from benchmarks.run import (BLOCK, CMP_BLOCK, CMP_STRIDE, NUM_SELECTED, WINDOW, Bench,  # noqa: E402
                            branch_inputs, fwd_bwd)
from fsa_ops.functional import _LateCompressed  # noqa: E402
from fsa_ops.testing import rel_error  # noqa: E402


def streamed_nsa(side: torch.cuda.Stream, compressed_on_side: bool):
    """nsa_attention(q, k, v, k_cmp, v_cmp, g_cmp, g_slc, g_swa) for unpacked input, with the
    window branch (and, if asked, the compressed branch's gradient node) on `side`."""
    fsa = torch.ops.fsa

    def nsa(q, k, v, k_cmp, v_cmp, g_cmp, g_slc, g_swa):
        scale = q.shape[-1] ** -0.5
        seqlen_k = k.shape[1]
        main = torch.cuda.current_stream()
        side.wait_stream(main)
        with torch.cuda.stream(side):
            o_swa, _ = fsa.window_attention(q, k, v, None, None, WINDOW, scale, False)
        cmp_arguments = (None, None, seqlen_k, CMP_BLOCK, CMP_STRIDE, scale)
        q_, k_cmp_ = q.detach(), k_cmp.detach()
        o_cmp, lse_cmp = fsa.compressed_attention(q_, k_cmp_, v_cmp.detach(), *cmp_arguments,
                                                  False)
        indices = fsa.select_blocks(q_, k_cmp_, lse_cmp, None, None, seqlen_k, CMP_BLOCK,
                                    CMP_STRIDE, BLOCK, NUM_SELECTED, 1, 2, scale, False)
        o_slc, _ = fsa.selected_attention(q, k, v, indices, None, None, BLOCK, scale, False, True)
        if compressed_on_side:
            side.wait_stream(main)
            with torch.cuda.stream(side):
                o_cmp = _LateCompressed.apply(q, k_cmp, v_cmp, o_cmp, lse_cmp, cmp_arguments)
        else:
            o_cmp = _LateCompressed.apply(q, k_cmp, v_cmp, o_cmp, lse_cmp, cmp_arguments)
        main.wait_stream(side)
        # Made on the side stream, used on the main one: keep the allocator from reusing them
        # before the main stream is done.
        o_swa.record_stream(main)
        o_cmp.record_stream(main)
        return fsa.gated_combine(o_cmp, o_slc, o_swa, g_cmp, g_slc, g_swa)
    return nsa


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[4])
    args = parser.parse_args()
    bench = Bench(torch.device("cuda"), torch.bfloat16)
    side = torch.cuda.Stream()
    variants = {
        "serial": lambda *t: fsa_ops.nsa_attention(*t, window_size=WINDOW, check_values=False),
        "window_side": streamed_nsa(side, compressed_on_side=False),
        "window_cmp_side": streamed_nsa(side, compressed_on_side=True),
    }
    for group in args.groups:
        q, k, v, kc, vc = branch_inputs(bench, args.seqlen, group, requires_grad=True)
        gates = [torch.rand(q.shape[:3], device="cuda", dtype=torch.bfloat16, requires_grad=True)
                 for _ in range(3)]
        inputs = (q, k, v, kc, vc, *gates)
        grad = torch.randn_like(q)
        expected = None
        print(f"## T={args.seqlen} G={group}")
        print(f"{'variant':<16} {'fwd ms':>8} {'fwd+bwd ms':>11} {'peak GiB':>9} {'max rel err':>12}")
        for name, fn in variants.items():
            out = fn(*inputs)
            results = (out, *torch.autograd.grad(out, inputs, grad))
            if expected is None:
                expected = results
            err = max(rel_error(a, b) for a, b in zip(results, expected))
            del out, results
            with torch.no_grad():
                fwd_ms = bench.time(lambda fn=fn: fn(*inputs))
            step = fwd_bwd(lambda fn=fn: fn(*inputs), inputs)
            step_ms = bench.time(step)
            peak = bench.peak(step) / 2**30
            print(f"{name:<16} {fwd_ms:8.3f} {step_ms:11.3f} {peak:9.2f} {err:12.1e}", flush=True)
        del q, k, v, kc, vc, gates, inputs, grad, expected
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
