"""Window / compressed forward at 64K, G=4 (SPEC §6 shapes), a few launches, for ncu."""
import sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops
from fsa_ops.kernels.common import MODE_COMPRESSED, MODE_WINDOW
from fsa_ops.kernels.range_attention import range_attention_forward
mode = sys.argv[1]
t, hkv, g, d = 65536, 4, 4, 128
rand = lambda *s: torch.randn(s, device="cuda", dtype=torch.bfloat16)
q = rand(1, t, hkv * g, d)
if mode == "window":
    k, v = rand(1, t, hkv, d), rand(1, t, hkv, d)
    call = (None, None, t, MODE_WINDOW, 512, 32, 16, d ** -0.5)
else:
    tc = fsa_ops.reference.num_compressed_keys(t, 32, 16)
    k, v = rand(1, tc, hkv, d), rand(1, tc, hkv, d)
    call = (None, None, t, MODE_COMPRESSED, 0, 32, 16, d ** -0.5)
for _ in range(3):
    range_attention_forward(q, k, v, *call)
torch.cuda.synchronize()
print("ok", mode)
