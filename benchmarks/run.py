"""Side-by-side benchmark of SPEC §6: fsa_ops vs fla-core's parallel_nsa vs SDPA.

    python benchmarks/run.py --preset quick      # a few minutes on an H100
    python benchmarks/run.py --preset full
    python benchmarks/run.py --seqlens 65536 --groups 16 --parts selected --append   # some rows

Writes benchmarks/results/<gpu-name>/latest.json (SPEC §6 row format) and latest.md.
Every row is a median of triton.testing.do_bench on fresh random inputs. FLOPs (per SPEC §6):
  selected fwd  4 * T * Hq * n * l' * D      fwd+bwd = 3.5 x fwd
  window fwd    4 * T * Hq * w * D           (full windows counted)
  compressed    4 * T * Hq * (T / d) / 2 * D (causal half)
  SDPA causal   4 * T * T / 2 * Hq * D
  select_blocks 0.5 x compressed (Q K^T once over the visible compressed keys: the work the
                op needs, whatever the kernel recomputes)
  nsa fwd       selected + window + compressed + select_blocks
  fwd+bwd       3.5 x fwd for every attention row; nsa: 3.5 x its attention branches
                + select_blocks (no backward)
Results written before 2026-11-23 05:00 UTC counted select_blocks as 1.5 x compressed and
nsa fwd+bwd as 3.5 x (selected + window + 2.5 x compressed): their TFLOP/s for those two ops
read high; their ms are unaffected.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from fsa_ops.testing import rel_error  # noqa: E402

PRESETS = {
    "quick": dict(seqlens=[8192, 65536], groups=[1, 4, 16]),
    "full": dict(seqlens=[8192, 16384, 32768, 65536, 131072], groups=[1, 2, 4, 8, 16]),
    "smoke": dict(seqlens=[256], groups=[1, 2]),        # CPU structure check, no timing claims
}
PARTS = ("selected", "flex", "range", "nsa", "sdpa")     # --parts: which rows a run takes
KV_HEADS, HEAD_DIM, BLOCK, NUM_SELECTED, WINDOW, CMP_BLOCK, CMP_STRIDE = 4, 128, 64, 16, 512, 32, 16


def random_selection(batch, seqlen, kv_heads, n, block, device):
    """A random valid selection: per (token, kv head) n distinct causal blocks, ascending, -1 padded.
    Forced like NSA: block 0 and the token's own block are always in."""
    t = torch.arange(seqlen, device=device)
    last = (t // block)[None, :, None, None]
    scores = torch.rand(batch, seqlen, kv_heads, triton_cdiv(seqlen, block), device=device)
    j = torch.arange(scores.shape[-1], device=device)
    scores = torch.where(j <= last, scores, -1.0)
    scores = torch.where((j == 0) | (j == last), 2.0, scores)
    top = scores.topk(min(n, scores.shape[-1]), -1)
    idx = torch.where(top.values >= 0, top.indices, scores.shape[-1]).sort(-1).values
    idx = torch.where(idx == scores.shape[-1], -1, idx).to(torch.int32)
    if idx.shape[-1] < n:
        idx = torch.nn.functional.pad(idx, (0, n - idx.shape[-1]), value=-1)
    return idx.contiguous()


def triton_cdiv(a, b):
    return -(-a // b)


def warm_up(device, seconds: float, size: int = 4096) -> None:
    """Matrix products on `device` for about `seconds` (at least 8 of them) before the first
    row. Why: in session 17 (H200, `--groups 1` in a fresh process), the first row, selected
    attention forward, took 1.92 ms, against 1.65 in a process that had timed G = 16 first.
    If the card's clocks were still ramping up, this takes that out of the first row; whether
    it does is not yet measured. A later row, the window fwd+bwd, was also slow in that run
    (1.90 against 1.28 ms), which ramping clocks do not explain."""
    a = torch.randn(size, size, device=device)
    a = a.to(torch.bfloat16) if device.type == "cuda" else a
    start = time.perf_counter()
    while True:
        for _ in range(8):
            a @ a
        if device.type == "cuda":
            torch.cuda.synchronize()
        if time.perf_counter() - start >= seconds:
            return


class Bench:
    def __init__(self, device, dtype, warm_seconds: float = 2.0):
        self.device, self.dtype, self.rows = device, dtype, []
        self.cuda = device.type == "cuda"
        # On the CPU the products only run the code path (the smoke test).
        warm_up(device, warm_seconds if self.cuda else 0.0, 4096 if self.cuda else 64)

    def time(self, fn):
        if not self.cuda:
            fn()
            return float("nan")
        import triton.testing
        return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")

    def peak(self, fn):
        if not self.cuda:
            return 0
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    def record(self, system, op, direction, seqlen, group, flops, fn, mode="eager", **extra):
        try:
            ms = self.time(fn)
            mem = self.peak(fn)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            ms, mem, extra = float("nan"), -1, {**extra, "error": "out of memory"}
        row = dict(system=system, op=op, mode=mode, direction=direction, T=seqlen, G=group,
                   Hkv=KV_HEADS, D=HEAD_DIM, dtype=str(self.dtype).replace("torch.", ""),
                   ms=ms, tflops=flops / ms / 1e9 if ms == ms and ms > 0 else float("nan"),
                   peak_mem_bytes=mem, **extra)
        self.rows.append(row)
        print(f"  {system:>8} {op:<22} {mode:<8} {direction:<7} T={seqlen:<7} G={group:<3} "
              f"{ms:9.3f} ms {row['tflops']:8.1f} TFLOP/s  {mem / 2**30:6.2f} GiB"
              + (f"  {extra}" if extra else ""), flush=True)
        return row


def fwd_bwd(fn, inputs):
    """Forward then backward of fn's (first) output against a fixed random upstream gradient."""
    grad = []

    def run():
        out = fn()
        out = out[0] if isinstance(out, tuple) else out
        if not grad:
            grad.append(torch.randn_like(out))
        torch.autograd.grad(out, inputs, grad[0])
    return run


def bench_selected(b: Bench, seqlen, group, with_backward, ours_and_fla=True, flex=True):
    """fsa_ops and fla-core's parallel_nsa (`ours_and_fla`), FlexAttention (`flex`) on the same
    random selection."""
    hq = KV_HEADS * group
    q, k, v, _, _ = branch_inputs(b, seqlen, group, requires_grad=True)
    idx = random_selection(1, seqlen, KV_HEADS, NUM_SELECTED, BLOCK, b.device)
    scale = HEAD_DIM ** -0.5
    flops = 4 * seqlen * hq * NUM_SELECTED * BLOCK * HEAD_DIM

    # check_values=False, as nsa_attention calls it and as fla and FlexAttention run: the
    # default eager check of the indices' values costs a host sync, which is not kernel time.
    def ours(deterministic=True):
        return torch.ops.fsa.selected_attention(q, k, v, idx, None, None, BLOCK, scale, False,
                                                deterministic)[0]

    if ours_and_fla:
        bench_ours_and_fla(b, q, k, v, idx, scale, flops, ours, with_backward)
    if flex and b.cuda:
        with torch.no_grad():
            reference_out = ours()
        bench_flex_selected(b, q, k, v, idx, scale, flops, reference_out, with_backward)


def bench_ours_and_fla(b: Bench, q, k, v, idx, scale, flops, ours, with_backward):
    """bench_selected's fsa_ops rows (deterministic and atomic backward) and fla's."""
    seqlen, group = q.shape[1], q.shape[2] // KV_HEADS
    with torch.no_grad():
        b.record("fsa_ops", "selected_attention", "fwd", seqlen, group, flops, ours)
    if with_backward:
        b.record("fsa_ops", "selected_attention", "fwdbwd", seqlen, group, 3.5 * flops,
                 fwd_bwd(ours, (q, k, v)))
        b.record("fsa_ops", "selected_attention", "fwdbwd", seqlen, group, 3.5 * flops,
                 fwd_bwd(lambda: ours(False), (q, k, v)), deterministic=False)

    fla = fla_selected()
    if fla is not None and b.cuda:
        pad = 16 // group if group < 16 else 1                     # fla needs G >= 16
        q16 = q.detach().repeat_interleave(pad, 2).requires_grad_() if pad > 1 else q
        out_fla = fla(q16, k, v, idx.long(), NUM_SELECTED, BLOCK, scale, None)
        with torch.no_grad():
            o_ours = ours()
        err = rel_error(o_ours, out_fla[:, :, ::pad] if pad > 1 else out_fla)
        run_fla = lambda: fla(q16, k, v, idx.long(), NUM_SELECTED, BLOCK, scale, None)  # noqa: E731
        with torch.no_grad():
            b.record("fla", "selected_attention", "fwd", seqlen, group, flops, run_fla,
                     padded_heads=q16.shape[2], rel_err_vs_fsa_ops=err)
        if with_backward:
            b.record("fla", "selected_attention", "fwdbwd", seqlen, group, 3.5 * flops,
                     fwd_bwd(run_fla, (q16, k, v)), padded_heads=q16.shape[2])


def bench_flex_selected(b: Bench, q, k, v, idx, scale, flops, reference_out, with_backward):
    """FlexAttention with a token-level selection mask_mod: token t sees key j iff j <= t and
    j's block is among t's selected blocks for its kv head. The BlockMask (128 x 128 tiles,
    built by the compiled create_block_mask, never materialising T x T) is timed on its own;
    a 128-query tile must visit the union of its tokens' blocks, which is what a user of
    FlexAttention pays for token-level selection."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    seqlen, hq, group = q.shape[1], q.shape[2], q.shape[2] // KV_HEADS
    num_blocks = triton_cdiv(seqlen, BLOCK)
    picked = torch.zeros(seqlen, KV_HEADS, num_blocks + 1, dtype=torch.bool, device=q.device)
    picked.scatter_(2, torch.where(idx[0] < 0, num_blocks, idx[0]).long(), True)
    picked = picked[..., :num_blocks].contiguous()

    def selection(b_, h, q_idx, kv_idx):
        return (kv_idx <= q_idx) & picked[q_idx, h // group, kv_idx // BLOCK]

    build = lambda: create_block_mask(selection, 1, hq, seqlen, seqlen, device=q.device,  # noqa: E731
                                      _compile=True)
    block_mask = build()
    b.record("flex", "selected_block_mask", "build", seqlen, group, 0.0, build, mode="compiled",
             density=round(1 - float(block_mask.sparsity()) / 100, 4))
    flex = torch.compile(flex_attention, fullgraph=True)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    run = lambda: flex(qt, kt, vt, block_mask=block_mask, scale=scale, enable_gqa=True)  # noqa: E731
    with torch.no_grad():
        err = rel_error(run().transpose(1, 2), reference_out)
        b.record("flex", "selected_attention", "fwd", seqlen, group, flops, run, mode="compiled",
                 rel_err_vs_fsa_ops=err)
    if with_backward:
        b.record("flex", "selected_attention", "fwdbwd", seqlen, group, 3.5 * flops,
                 fwd_bwd(run, (q, k, v)), mode="compiled")


def bench_sdpa(b: Bench, seqlen, group, with_backward):
    hq = KV_HEADS * group
    dev, dt = b.device, b.dtype
    q = torch.randn(1, hq, seqlen, HEAD_DIM, device=dev, dtype=dt, requires_grad=True)
    k = torch.randn(1, KV_HEADS, seqlen, HEAD_DIM, device=dev, dtype=dt, requires_grad=True)
    v = torch.randn(1, KV_HEADS, seqlen, HEAD_DIM, device=dev, dtype=dt, requires_grad=True)
    flops = 2 * seqlen * seqlen * hq * HEAD_DIM
    fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,  # noqa: E731
                                                                  enable_gqa=True)
    with torch.no_grad():
        b.record("sdpa", "full_causal_attention", "fwd", seqlen, group, flops, fn)
    if with_backward:
        b.record("sdpa", "full_causal_attention", "fwdbwd", seqlen, group, 3.5 * flops,
                 fwd_bwd(fn, (q, k, v)))


def branch_inputs(b: Bench, seqlen, group, requires_grad=False):
    """Fresh random q [1, T, Hq, D], k, v [1, T, Hkv, D], k_cmp, v_cmp [1, Tc, Hkv, D]."""
    hq = KV_HEADS * group
    tc = fsa_ops.reference.num_compressed_keys(seqlen, CMP_BLOCK, CMP_STRIDE)

    def rand(*shape):
        return torch.randn(shape, device=b.device, dtype=b.dtype, requires_grad=requires_grad)
    return (rand(1, seqlen, hq, HEAD_DIM), rand(1, seqlen, KV_HEADS, HEAD_DIM),
            rand(1, seqlen, KV_HEADS, HEAD_DIM), rand(1, tc, KV_HEADS, HEAD_DIM),
            rand(1, tc, KV_HEADS, HEAD_DIM))


def bench_range_branches(b: Bench, seqlen, group, with_backward):
    hq = KV_HEADS * group
    q, k, v, kc, vc = branch_inputs(b, seqlen, group, requires_grad=True)
    tc = kc.shape[1]
    scale = HEAD_DIM ** -0.5
    window = lambda: torch.ops.fsa.window_attention(q, k, v, None, None, WINDOW, scale)  # noqa: E731
    compressed = lambda: torch.ops.fsa.compressed_attention(  # noqa: E731
        q, kc, vc, None, None, seqlen, CMP_BLOCK, CMP_STRIDE, scale)
    for op, fn, flops, inputs in (
            ("window_attention", window, 4 * seqlen * hq * WINDOW * HEAD_DIM, (q, k, v)),
            ("compressed_attention", compressed, 2 * seqlen * hq * tc * HEAD_DIM, (q, kc, vc))):
        with torch.no_grad():
            b.record("fsa_ops", op, "fwd", seqlen, group, flops, fn)
        if with_backward:
            b.record("fsa_ops", op, "fwdbwd", seqlen, group, 3.5 * flops, fwd_bwd(fn, inputs))


def bench_nsa(b: Bench, seqlen, group, with_backward):
    """select_blocks alone, and the whole NSA attention (all three branches, selection, gate),
    forward and forward+backward."""
    hq = KV_HEADS * group
    q, k, v, kc, vc = branch_inputs(b, seqlen, group, requires_grad=True)
    tc = kc.shape[1]
    gates = [torch.rand(1, seqlen, hq, device=b.device, dtype=b.dtype, requires_grad=True)
             for _ in range(3)]
    scale = HEAD_DIM ** -0.5
    _, lse = torch.ops.fsa.compressed_attention(q, kc, vc, None, None, seqlen, CMP_BLOCK, CMP_STRIDE, scale)
    selected_flops = 4 * seqlen * hq * NUM_SELECTED * BLOCK * HEAD_DIM
    cmp_flops = 2 * seqlen * hq * tc * HEAD_DIM
    select_flops = 0.5 * cmp_flops
    with torch.no_grad():
        b.record("fsa_ops", "select_blocks", "fwd", seqlen, group, select_flops,
                 lambda: torch.ops.fsa.select_blocks(q, kc, lse, None, None, seqlen, CMP_BLOCK, CMP_STRIDE,
                                                     BLOCK, NUM_SELECTED, 1, 2, scale))
    branch_flops = selected_flops + 4 * seqlen * hq * WINDOW * HEAD_DIM + cmp_flops
    nsa_flops = branch_flops + select_flops
    attention = lambda *t: fsa_ops.nsa_attention(*t, window_size=WINDOW)  # noqa: E731
    compiled = torch.compile(attention, fullgraph=True)
    inputs = (q, k, v, kc, vc, *gates)
    for mode, fn in (("eager", attention), ("compiled", compiled)):
        nsa = lambda fn=fn: fn(*inputs)  # noqa: E731
        with torch.no_grad():
            b.record("fsa_ops", "nsa_attention", "fwd", seqlen, group, nsa_flops, nsa, mode=mode)
        if with_backward:
            # Backward FLOPs: 2.5x the attention branches' forward (select_blocks has none).
            b.record("fsa_ops", "nsa_attention", "fwdbwd", seqlen, group, 3.5 * branch_flops + select_flops,
                     fwd_bwd(nsa, inputs), mode=mode)
    if with_backward:
        atomic = lambda: fsa_ops.nsa_attention(*inputs, window_size=WINDOW, deterministic=False)  # noqa: E731
        b.record("fsa_ops", "nsa_attention", "fwdbwd", seqlen, group, 3.5 * branch_flops + select_flops,
                 fwd_bwd(atomic, inputs), deterministic=False)


def fla_selected():
    try:
        from fla.ops.nsa.parallel import ParallelNSAFunction
    except ImportError:
        return None
    return ParallelNSAFunction.apply


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results/<gpu>)")
    parser.add_argument("--forward-only", action="store_true", help="skip forward+backward rows")
    parser.add_argument("--seqlens", type=int, nargs="+", help="override the preset's T values")
    parser.add_argument("--groups", type=int, nargs="+", help="override the preset's G values")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="rows to run (default all): selected (fsa_ops and fla), flex "
                             "(FlexAttention's selected rows, minutes of compiling at 64K), range "
                             "(window and compressed), nsa (select_blocks and the layer), sdpa")
    parser.add_argument("--append", action="store_true",
                        help="merge into the folder's latest.json (rows of the same system, op, "
                             "mode, direction, T and G are replaced): a preset run in parts")
    args = parser.parse_args(argv)
    for name in ("seqlens", "groups"):
        if any(v < 1 for v in getattr(args, name) or ()):
            parser.error(f"--{name} takes positive integers, got {getattr(args, name)}")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    # Every (T, G) and every selection mask is a new specialisation of the compiled rows.
    torch._dynamo.config.recompile_limit = 1024
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    out_dir = Path(args.out or Path(__file__).parent / "results" / gpu.replace(" ", "_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    b = Bench(device, dtype)
    preset = dict(PRESETS[args.preset])
    preset.update({k: v for k, v in (("seqlens", args.seqlens), ("groups", args.groups)) if v})
    print(f"fsa_ops {fsa_ops.__version__} on {gpu}: kernels={'triton' if fsa_ops.kernels_available(device) else 'reference'}")
    shapes = [(t, g) for t in preset["seqlens"] for g in preset["groups"]]
    env = dict(torch=torch.__version__, triton=_version("triton"), fla=_version("fla"), gpu=gpu,
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               command="python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
               python=platform.python_version(), clocks=_clocks())
    previous = None
    if args.append and (out_dir / "latest.json").exists():
        previous = json.loads((out_dir / "latest.json").read_text())
        env["command"] = previous["env"]["command"] + " && " + env["command"]
    for i, (seqlen, group) in enumerate(shapes):
        progress(i, len(shapes), f"T={seqlen} G={group}")
        with_backward = not args.forward_only
        parts = set(args.parts)
        if parts & {"selected", "flex"}:
            bench_selected(b, seqlen, group, with_backward, "selected" in parts, "flex" in parts)
        if "range" in parts:
            bench_range_branches(b, seqlen, group, with_backward)
        if "nsa" in parts:
            bench_nsa(b, seqlen, group, with_backward)
        if "sdpa" in parts:
            bench_sdpa(b, seqlen, group, with_backward)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        rows = write_results(out_dir, env, b.rows, previous)     # after every shape: a run
    progress(len(shapes), len(shapes), "done")                   # cut short keeps its rows
    try:
        from benchmarks.plot import plot_results
        for path in plot_results(rows, out_dir, env):
            print("wrote", path)
    except ImportError as e:
        print(f"no plots ({e})")
    print(summary_table(rows))


def write_results(out_dir, env, rows, previous):
    """latest.json and latest.md from this run's rows, merged over `previous` (--append)."""
    if previous is not None:
        new_keys = {row_key(r) for r in rows}
        rows = [r for r in previous["rows"] if row_key(r) not in new_keys] + rows
    rows = sorted(rows, key=lambda r: (r["T"], r["G"]))
    (out_dir / "latest.json").write_text(json.dumps(dict(env=env, rows=rows), indent=1))
    (out_dir / "latest.md").write_text(markdown_table(env, rows) + "\n" + summary_table(rows))
    return rows

def row_key(r):
    return (r["system"], r["op"], r.get("mode", "eager"), r["direction"], r["T"], r["G"],
            r.get("deterministic", True))


def progress(done, total, what):
    """A one-line progress bar on stderr (the rows themselves go to stdout)."""
    width = 30
    filled = width * done // max(total, 1)
    print(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}", file=sys.stderr,
          flush=True)


def summary_table(rows):
    """Per (T, G): the whole NSA attention vs SDPA, selected attention vs fla and FlexAttention,
    forward+backward where measured (else forward)."""
    def ms(system, op, direction, t, g, mode="eager", deterministic=True):
        for r in rows:
            if row_key(r) == (system, op, mode, direction, t, g, deterministic):
                return r["ms"]
        return None

    def fmt(x, digits=2):
        return "—" if x is None else f"{x:.{digits}f}"

    def ratio(a, b):
        return "—" if a is None or b is None else f"{a / b:.2f}x"

    lines = ["| T | G | dir | NSA eager ms | NSA compiled ms | SDPA ms | NSA vs SDPA | "
             "selected ms | fla ms | flex ms | vs fla | vs flex |", "|" + "---|" * 12]
    for t, g in sorted({(r["T"], r["G"]) for r in rows}):
        for d in ("fwd", "fwdbwd"):
            nsa, nsa_c, sdpa = (ms("fsa_ops", "nsa_attention", d, t, g), ms("fsa_ops", "nsa_attention", d, t, g, "compiled"),
                                ms("sdpa", "full_causal_attention", d, t, g))
            sel, fla, flex = (ms("fsa_ops", "selected_attention", d, t, g), ms("fla", "selected_attention", d, t, g),
                              ms("flex", "selected_attention", d, t, g, "compiled"))
            if nsa is None:
                continue
            lines.append(f"| {t} | {g} | {d} | {fmt(nsa)} | {fmt(nsa_c)} | {fmt(sdpa)} | {ratio(sdpa, nsa)} | "
                         f"{fmt(sel)} | {fmt(fla)} | {fmt(flex)} | {ratio(fla, sel)} | {ratio(flex, sel)} |")
    atomic = [(t, g) for t, g in sorted({(r["T"], r["G"]) for r in rows})
              if ms("fsa_ops", "nsa_attention", "fwdbwd", t, g, deterministic=False) is not None]
    if atomic:
        lines += ["", "deterministic=False (selected backward with float32 atomics), fwd+bwd:", "",
                  "| T | G | NSA ms | vs SDPA | NSA peak GiB | selected ms | vs fla |", "|" + "---|" * 7]
        for t, g in atomic:
            nsa = ms("fsa_ops", "nsa_attention", "fwdbwd", t, g, deterministic=False)
            sel = ms("fsa_ops", "selected_attention", "fwdbwd", t, g, deterministic=False)
            peak = [r["peak_mem_bytes"] for r in rows if row_key(r) == (
                "fsa_ops", "nsa_attention", "eager", "fwdbwd", t, g, False)][0]
            lines.append(f"| {t} | {g} | {fmt(nsa)} | {ratio(ms('sdpa', 'full_causal_attention', 'fwdbwd', t, g), nsa)} | "
                         f"{peak / 2**30:.2f} | {fmt(sel)} | {ratio(ms('fla', 'selected_attention', 'fwdbwd', t, g), sel)} |")
    return "\n".join(lines) + "\n"


def markdown_table(env, rows):
    lines = [f"Command: `{env['command']}`  ", f"{env['gpu']}, torch {env['torch']}, triton {env['triton']}, "
             f"fla {env['fla']}, {env['date']}", "",
             "| system | op | mode | dir | T | G | ms | TFLOP/s | peak GiB | note |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        note = ", ".join(f"{k}={v:.2e}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in r.items() if k in ("rel_err_vs_fsa_ops", "padded_heads", "error", "note", "density",
                                                        "deterministic"))
        lines.append(f"| {r['system']} | {r['op']} | {r.get('mode', 'eager')} | {r['direction']} | {r['T']} | {r['G']} | {r['ms']:.3f} | "
                     f"{r['tflops']:.1f} | {r['peak_mem_bytes'] / 2**30:.2f} | {note} |")
    return "\n".join(lines) + "\n"


def _version(name):
    try:
        return __import__(name).__version__
    except Exception:  # noqa: BLE001
        return None


def _clocks():
    if not torch.cuda.is_available():
        return None
    try:
        import subprocess
        return subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw",
                               "--format=csv,noheader"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    main()
