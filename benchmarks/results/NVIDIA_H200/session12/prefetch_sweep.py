"""Scratch (not committed): select_blocks with the next unmasked chunk's keys loaded one chunk
ahead, beside the shipped kernel, same inputs. Text edit of the current source."""
import importlib.util, sys, tempfile
from pathlib import Path
import torch, triton.testing
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import fsa_ops  # noqa
from benchmarks.sweep_select_blocks import select_blocks_call
from fsa_ops.kernels.select_blocks import select_blocks_forward as shipped

s = (ROOT / "fsa_ops/kernels/select_blocks.py").read_text()
s = s.replace("from .common import", "from fsa_ops.kernels.common import")
def sub(old, new):
    global s
    assert old in s, old[:60]
    s = s.replace(old, new)
sub('''                  IEEE: tl.constexpr, SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr):
    """Block scores''', '''                  IEEE: tl.constexpr, SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr,
                  k_pre=None, PRE: tl.constexpr = False):
    """Block scores''')
sub('''    else:
        k = tl.load(key_ptrs, mask=d_ok[None, :], other=0.0)
    s = dot(''', '''    elif PRE:
        k = k_pre
    else:
        k = tl.load(key_ptrs, mask=d_ok[None, :], other=0.0)
    s = dot(''')
sub('''           SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr):
    """The running top-n after''', '''           SPLIT_UPCAST: tl.constexpr, HALF: tl.constexpr, k_pre=None, PRE: tl.constexpr = False):
    """The running top-n after''')
sub('''                          MASKED, BLOCK_T, GP, SPAN, BLOCK_B, UPCAST, IEEE, SPLIT_UPCAST, HALF)''',
    '''                          MASKED, BLOCK_T, GP, SPAN, BLOCK_B, UPCAST, IEEE, SPLIT_UPCAST, HALF,
                          k_pre, PRE)''')
sub('''        for j0 in range(full_lo, full_hi, blocks_per_chunk):
            best_s, best_j = _chunk(''', '''        i_pre = full_lo * units_per_block - units_per_key + 1 + c
        pre_ok = (i_pre >= 0) & (key_row0 + i_pre < tl.where(full_lo < full_hi, num_cmp_rows, 0))
        k_pre = tl.load(K_CMP + kv_base + (key_row0 + i_pre)[:, None].to(tl.int64) * stride_kt + d[None, :],
                        mask=pre_ok[:, None] & d_ok[None, :], other=0.0)
        for j0 in range(full_lo, full_hi, blocks_per_chunk):
            j_next = tl.minimum(j0 + blocks_per_chunk, full_hi - blocks_per_chunk)
            k_next = tl.load(K_CMP + kv_base + (key_row0 + j_next * units_per_block - units_per_key + 1 + c)[:, None].to(tl.int64) * stride_kt + d[None, :],
                             mask=d_ok[None, :], other=0.0)
            best_s, best_j = _chunk(''')
sub('''                                    scale_log2, False, FILL, BLOCK_T, GP, SPAN, BLOCK_B, UPCAST,
                                    IEEE, SPLIT_UPCAST, HALF)''', '''                                    scale_log2, False, FILL, BLOCK_T, GP, SPAN, BLOCK_B, UPCAST,
                                    IEEE, SPLIT_UPCAST, HALF, k_pre, True)
            k_pre = k_next''')
tmp = tempfile.mkdtemp()
path = Path(tmp) / "select_blocks_prefetch.py"
path.write_text(s)
spec = importlib.util.spec_from_file_location(path.stem, path)
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
warm = "--warm" in sys.argv
for g in (4, 1, 16):
    call = select_blocks_call(65536, g)
    base = shipped(*call)
    for name, fn, kw in (("shipped", shipped, {}), ("prefetch", mod.select_blocks_forward, {}),
                         ("prefetch maxnreg160", mod.select_blocks_forward, dict(max_registers=160)),
                         ("prefetch maxnreg168", mod.select_blocks_forward, dict(max_registers=168))):
        out = fn(*call, **kw)
        if warm:
            continue
        ms = triton.testing.do_bench(lambda: fn(*call, **kw), warmup=10, rep=60, return_mode="median")
        print(f"G={g:<3} {name:<22} {ms:8.3f} ms  equal to shipped: {torch.equal(out, base)}", flush=True)
