"""Session 28: the harness's selected-attention rows alone (fsa_ops fwd, fwd+bwd deterministic and
atomic; fla-core's parallel_nsa fwd, fwd+bwd), FlexAttention left out (its compile and block mask
take minutes at 64K). Same Bench, inputs and FLOP counts as benchmarks/run.py; rows written to
<out>/latest.json / latest.md.

    python scratch/selected_rows.py OUT_DIR SEQLEN G [G ...]
"""
import datetime, sys
from pathlib import Path
import torch
sys.path.insert(0, ".")
import benchmarks.run as run

out_dir = Path(sys.argv[1]); out_dir.mkdir(parents=True, exist_ok=True)
seqlen, groups = int(sys.argv[2]), [int(g) for g in sys.argv[3:]]
run.bench_flex_selected = lambda *args, **kwargs: None
b = run.Bench(torch.device("cuda"), torch.bfloat16)
env = dict(torch=torch.__version__, triton=run._version("triton"), fla=run._version("fla"),
           gpu=torch.cuda.get_device_name(),
           date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           command="python scratch/selected_rows.py " + " ".join(sys.argv[1:]) + " (benchmarks/run.py's bench_selected without FlexAttention)")
for g in groups:
    run.bench_selected(b, seqlen, g, True)
    torch.cuda.empty_cache()
    run.write_results(out_dir, env, b.rows, None)      # after every G: a run cut short keeps its rows
