"""Smoke test of the benchmark harness (tiny sizes; timings are not asserted)."""

import json
import subprocess
import sys

from jax_inits import bench


def test_harness_records_and_report(monkeypatch):
    monkeypatch.setattr(bench, "PAUSE", 0.0)
    records = bench.throughput(
        ((64, 64),),
        ("float32", "bfloat16"),
        ("he_normal", "orthogonal"),
        2,
        progress=lambda msg: None,
    )
    impls = {r["impl"] for r in records}
    assert {"jax_inits", "jax.nn (jit)", "jax.nn (eager)", "limit (jnp.full)"} <= impls
    assert all(r["msamples_per_s"] > 0 for r in records)
    records.append(bench.orthogonal_breakdown((64, 64), 2))
    result = {"tag": "smoke", "quick": True, "machine": bench.machine(), "records": records}
    text = bench.markdown(result)
    assert "| he_normal | 64x64 | float32 |" in text and "where time goes" in text
    json.dumps(result)  # serializable


def test_bench_subcommand_help():
    out = subprocess.run(
        [sys.executable, "-m", "jax_inits", "bench", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "--quick" in out.stdout


def test_fresh_process_measurements_run():
    """peak_rss and cold_init run their scripts in fresh processes (tiny sizes here)."""
    rss = bench.peak_rss(256)
    assert {r["impl"] for r in rss} >= {"jax_inits", "jax.nn (jit)"}
    assert all(r["peak_added_bytes"] >= 0 for r in rss)
    cold = bench.cold_init(layers=3)
    assert {r["impl"] for r in cold} >= {"jax_inits", "jax.nn (eager)"}
    assert all(r["seconds"] > 0 for r in cold)
