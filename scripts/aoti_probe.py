"""Stage-by-stage probe of torch.export + AOTInductor on one device (run in a subprocess, so a
crash names its stage): python scripts/aoti_probe.py cuda [fsa|plain|gate]"""
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fsa_ops  # noqa: E402
from fsa_ops.testing import rel_error  # noqa: E402

device, what = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
if what == "plain":             # no fsa op: does AOTI itself load here?
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.GELU()).to(device)
elif what == "gate":            # one fsa op (decomposed by Inductor)
    class Gate(torch.nn.Module):
        def forward(self, x):
            o = x.unflatten(-1, (4, 16))
            g = torch.sigmoid(x[..., :4])
            return torch.ops.fsa.gated_combine(o, o * 2, o * 3, g, g, g)
    model = Gate()
else:
    cfg = fsa_ops.NSAConfig(32, 16, 32, 4, 1, 1, 48)
    model = fsa_ops.NativeSparseAttention(64, 4, 2, 16, config=cfg, device=device)
x = torch.randn(2, 203, 64, device=device)
print("stage export", flush=True)
ep = torch.export.export(model, (x,), dynamic_shapes=({1: torch.export.Dim("T", min=64, max=8192)},))
print("stage compile", flush=True)
path = torch._inductor.aoti_compile_and_package(ep, package_path=tempfile.mkdtemp() + "/m.pt2")
print("stage load", flush=True)
runner = torch._inductor.aoti_load_package(path)
print("stage run", flush=True)
with torch.no_grad():               # the traced length and two others (dynamic T)
    err = max(rel_error(runner(x), model(x))
              for x in (torch.randn(2, t, 64, device=device) for t in (203, 320, 777)))
print("stage done, max rel error", err, flush=True)
# (the "fsa" run is in float32: the diff is rounding only)
