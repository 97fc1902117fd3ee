"""Where select_blocks spends its time: the shipped kernel beside copies with one part cut
out (H100, bf16, Hkv=4, D=128, SPEC §2 defaults). The copies compute wrong selections; only
their times mean something.

    python benchmarks/ablate_select_blocks.py [--seqlen 65536] [--groups 4 16]

Variants (text edits of fsa_ops/kernels/select_blocks.py, written to a temporary module):
  shipped      the kernel as it is
  no_topn      the insertion rounds replaced by one max per token (keeps the scores live)
  one_product  the overlap-weight product as one float16 MMA instead of two
  both         no_topn and one_product
  headsum_*    the G heads' probabilities summed before the weight product, which then runs
               on BLOCK_T rows: as a float32 broadcast product, or as split_dot
"""

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import triton.testing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import fsa_ops  # noqa: E402,F401
from benchmarks.sweep_select_blocks import select_blocks_call  # noqa: E402

SOURCE = (ROOT / "fsa_ops/kernels/select_blocks.py").read_text()
ROUNDS = SOURCE[SOURCE.index("    rounds = tl.max("):SOURCE.index("    return best_s, best_j\n")]
NO_TOPN = ("    best_s = tl.maximum(best_s, tl.max(chunk_s, 1)[:, None])\n"
           "    best_j = tl.maximum(best_j, tl.max(tl.where(chunk_s > 0, j0 + b[None, :], 0), 1)[:, None])\n")
SPLIT = "    score = split_dot(p, weight, SPLIT_UPCAST, HALF)"
ONE = "    score = tl.dot(p.to(tl.float16), weight.to(tl.float16))"
# Sum the G heads' probabilities first, then weigh [BLOCK_T, KEYS] instead of [rows, KEYS]:
# by a broadcast product in float32 (exact), or by split_dot (needs BLOCK_T >= 16).
HEADS = SOURCE[SOURCE.index(SPLIT):SOURCE.index("\n\n\n@triton.jit\ndef _absorb(")]
SUM_FIRST = ("    p = tl.reshape(tl.sum(tl.reshape(p, [BLOCK_T * GP // SPAN, GP, SPAN // GP, p.shape[1]]), 1),"
             " [BLOCK_T, p.shape[1]])\n")
BCAST = SUM_FIRST + "    return tl.sum(p[:, :, None] * weight[None, :, :], 1)"
SUM_SPLIT = SUM_FIRST + "    return split_dot(p, weight, SPLIT_UPCAST, HALF)"
EDITS = {"shipped": [], "no_topn": [(ROUNDS, NO_TOPN)], "one_product": [(SPLIT, ONE)],
         "both": [(ROUNDS, NO_TOPN), (SPLIT, ONE)], "headsum_bcast": [(HEADS, BCAST)],
         "headsum_split": [(HEADS, SUM_SPLIT)]}


def variant(name, tmp):
    text = SOURCE.replace("from .common import", "from fsa_ops.kernels.common import")
    for old, new in EDITS[name]:
        assert old in text, (name, old[:40])
        text = text.replace(old, new)
    path = Path(tmp) / f"select_blocks_{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.select_blocks_forward


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--variants", nargs="+", default=list(EDITS))
    args = parser.parse_args()
    t = args.seqlen
    with tempfile.TemporaryDirectory() as tmp:
        kernels = {name: variant(name, tmp) for name in args.variants}
        for g in args.groups:
            call = select_blocks_call(t, g)
            base = None
            for name, fn in kernels.items():
                try:
                    out = fn(*call)
                    base = out if base is None else base
                    differ = (out != base).any(-1).float().mean().item()
                    ms = triton.testing.do_bench(lambda: fn(*call), warmup=10, rep=60,
                                                 return_mode="median")
                except Exception as error:               # a variant that does not compile
                    print(f"T={t} G={g:<3} {name:<12} {type(error).__name__}: {error}"[:200])
                    continue
                print(f"T={t} G={g:<3} {name:<14} {ms:8.3f} ms  rows differing from the first"
                      f" variant: {differ:.1e}", flush=True)


if __name__ == "__main__":
    main()
