"""Smoke test of the benchmark harness in benchmarks/ (tiny sizes; timings are not
asserted). The harness is not part of the package: it is loaded from its file."""

import json
import pathlib
import subprocess
import sys

import pytest

from tests import _scripts

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def harness():
    return _scripts.load("benchmarks/harness.py", "benchmarks_harness")


@pytest.mark.slow  # times a few cases for real; --help above checks the script imports
def test_harness_records_and_report(harness, monkeypatch):
    monkeypatch.setattr(harness, "PAUSE", 0.0)
    records = harness.throughput(
        ((64, 64),),
        ("float32", "bfloat16"),
        ("he_normal", "orthogonal"),
        2,
        progress=lambda msg: None,
    )
    impls = {r["impl"] for r in records}
    assert {"jax_inits", "jax.nn (jit)", "jax.nn (eager)", "limit (jnp.full)"} <= impls
    assert all(r["msamples_per_s"] > 0 for r in records)
    records.append(harness.orthogonal_breakdown((64, 64), 2))
    result = {"tag": "smoke", "quick": True, "machine": harness.machine(), "records": records}
    text = harness.markdown(result)
    assert "| he_normal | 64x64 | float32 |" in text and "where time goes" in text
    json.dumps(result)  # serializable


def test_harness_script_help():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "harness.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "--quick" in out.stdout and "--tag" in out.stdout


@pytest.mark.slow  # ~30 s: several fresh processes, each importing jax and torch
def test_fresh_process_measurements_run(harness):
    """peak_rss and cold_init run their scripts in fresh processes (tiny sizes here)."""
    rss = harness.peak_rss(256)
    assert {r["impl"] for r in rss} >= {"jax_inits", "jax.nn (jit)"}
    assert all(r["peak_added_bytes"] >= 0 for r in rss)
    cold = harness.cold_init(layers=3)
    assert {r["impl"] for r in cold} >= {"jax_inits", "jax.nn (eager)"}
    assert all(r["seconds"] > 0 for r in cold)


def test_the_package_ships_no_benchmark_code():
    assert not (ROOT / "jax_inits" / "bench.py").exists()
    assert not list((ROOT / "jax_inits").rglob("*bench*"))
