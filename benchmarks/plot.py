"""PNG plots of a benchmark run (`benchmarks/run.py` calls this when matplotlib is installed).

    python benchmarks/plot.py benchmarks/results/NVIDIA_H100_80GB_HBM3/latest.json

latency_vs_T.png   one panel per G: median ms vs T (log-log), forward+backward, for the whole
                   NSA attention (eager, compiled), SDPA, and the selected branch of fsa_ops,
                   fla-core and FlexAttention.
speedup_vs_sdpa.png  SDPA time / NSA time vs T, one line per G, forward and forward+backward.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SERIES = [  # (label, system, op, mode, style)
    ("NSA attention (fsa_ops)", "fsa_ops", "nsa_attention", "eager", "-o"),
    ("NSA attention, compiled", "fsa_ops", "nsa_attention", "compiled", "--o"),
    ("SDPA full causal", "sdpa", "full_causal_attention", "eager", "-s"),
    ("selected: fsa_ops", "fsa_ops", "selected_attention", "eager", "-^"),
    ("selected: fla parallel_nsa", "fla", "selected_attention", "eager", ":^"),
    ("selected: FlexAttention", "flex", "selected_attention", "compiled", "-.^"),
]


def _series(rows, system, op, mode, direction, group):
    points = sorted((r["T"], r["ms"]) for r in rows
                    if (r["system"], r["op"], r.get("mode", "eager"), r["direction"], r["G"])
                    == (system, op, mode, direction, group) and r["ms"] == r["ms"])
    return [p[0] for p in points], [p[1] for p in points]


def plot_results(rows, out_dir: Path, env: dict | None = None) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({r["G"] for r in rows})
    title = f"{env['gpu']}, bf16, Hkv=4, D=128, n=16, l'=64" if env else ""
    direction = "fwdbwd" if any(r["direction"] == "fwdbwd" for r in rows) else "fwd"
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4), squeeze=False)
    for ax, group in zip(axes[0], groups):
        for label, system, op, mode, style in SERIES:
            t, ms = _series(rows, system, op, mode, direction, group)
            if t:
                ax.plot(t, ms, style, label=label, ms=4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"G = {group} ({direction})")
        ax.set_xlabel("T (tokens)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("median ms")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    latency = out_dir / "latency_vs_T.png"
    fig.savefig(latency, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for group in groups:
        for d, style in (("fwd", "--o"), ("fwdbwd", "-o")):
            t, nsa = _series(rows, "fsa_ops", "nsa_attention", "eager", d, group)
            t2, sdpa = _series(rows, "sdpa", "full_causal_attention", "eager", d, group)
            both = sorted(set(t) & set(t2))
            if both:
                ax.plot(both, [sdpa[t2.index(x)] / nsa[t.index(x)] for x in both], style,
                        label=f"G={group} {d}", ms=4)
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("T (tokens)")
    ax.set_ylabel("SDPA time / NSA time")
    ax.set_title("NSA attention speed-up over SDPA full causal\n" + title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    speedup = out_dir / "speedup_vs_sdpa.png"
    fig.savefig(speedup, dpi=110)
    plt.close(fig)
    return [latency, speedup]


if __name__ == "__main__":
    path = Path(sys.argv[1])
    data = json.loads(path.read_text())
    for p in plot_results(data["rows"], path.parent, data["env"]):
        print("wrote", p)
