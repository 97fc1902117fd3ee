"""The benchmark harness runs end to end on the CPU and writes results in SPEC §6's shape.
No timing claims: on the CPU every `ms` is NaN."""

import json
import math

from benchmarks.run import main as run_benchmarks

ROW_KEYS = {"system", "op", "mode", "direction", "T", "G", "Hkv", "D", "dtype", "ms", "tflops",
            "peak_mem_bytes"}


def test_smoke_preset_writes_spec_rows(tmp_path):
    run_benchmarks(["--preset", "smoke", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "latest.json").read_text())
    assert {"torch", "triton", "gpu", "date", "command"} <= set(data["env"])
    rows = data["rows"]
    ops = {(r["system"], r["op"]) for r in rows}
    assert {("fsa_ops", "selected_attention"), ("fsa_ops", "window_attention"),
            ("fsa_ops", "compressed_attention"), ("fsa_ops", "select_blocks"),
            ("fsa_ops", "nsa_attention"), ("sdpa", "full_causal_attention")} <= ops
    assert {("fsa_ops", "nsa_attention", "fwdbwd"), ("sdpa", "full_causal_attention", "fwdbwd")} <= {
        (r["system"], r["op"], r["direction"]) for r in rows}
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["system"] in {"fsa_ops", "fla", "flex", "sdpa"}
        assert row["direction"] in {"fwd", "fwdbwd"} and row["mode"] in {"eager", "compiled"}
        assert math.isnan(row["ms"])
    table = (tmp_path / "latest.md").read_text().splitlines()
    assert table[0].startswith("Command: `") and len([x for x in table if x.startswith("| ")]) == len(rows) + 1
