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
    assert {("fsa_ops", "nsa_attention", "eager", "fwdbwd"),
            ("fsa_ops", "nsa_attention", "compiled", "fwdbwd"),
            ("sdpa", "full_causal_attention", "eager", "fwdbwd")} <= {
        (r["system"], r["op"], r["mode"], r["direction"]) for r in rows}
    assert {("selected_attention", "fwdbwd"), ("nsa_attention", "fwdbwd")} == {
        (r["op"], r["direction"]) for r in rows if r.get("deterministic") is False}
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["system"] in {"fsa_ops", "fla", "flex", "sdpa"}
        assert row["direction"] in {"fwd", "fwdbwd", "build"} and row["mode"] in {"eager", "compiled"}
        assert math.isnan(row["ms"])
    table = (tmp_path / "latest.md").read_text().splitlines()
    assert table[0].startswith("Command: `")
    assert len([x for x in table if x.startswith("| ") and x.count("|") == 11]) == len(rows) + 1
    summary = [x for x in table if x.startswith("| ") and x.count("|") == 13]
    assert len(summary) == 1 + 2 * 2          # header + (fwd, fwdbwd) for each of the two G


def test_host_overhead_probe_runs_every_mode(capsys):
    """benchmarks/host_overhead.py steps the layer (forward+backward) eager, compiled and
    compiled with CUDA graphs; on the CPU it runs one step of each and reports it."""
    from benchmarks.host_overhead import main as host_overhead
    host_overhead(["--seqlens", "128", "--groups", "2"])
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("T=128 G=2")]
    assert [x.split()[2].rstrip(":") for x in lines] == ["eager", "compiled", "cudagraphs"]


def test_parts_pick_the_rows(tmp_path):
    """--parts runs only the named rows (a long shape measured in pieces, --append to merge)."""
    run_benchmarks(["--preset", "smoke", "--groups", "2", "--parts", "selected", "sdpa",
                    "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    assert {(r["system"], r["op"]) for r in rows} == {("fsa_ops", "selected_attention"),
                                                      ("sdpa", "full_causal_attention")}
    run_benchmarks(["--preset", "smoke", "--groups", "2", "--parts", "range", "--append",
                    "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    assert {r["op"] for r in rows} == {"selected_attention", "full_causal_attention",
                                       "window_attention", "compressed_attention"}
