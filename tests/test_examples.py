"""The examples run and say what they claim.

`make test` runs the smallest (the MLP's parameters); the others (training runs, a
transformers model, Haiku and a sharded mesh: 10-25 s each on the 2-core CI
machine) are marked ``slow``: `make test-slow` runs them in CI.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mlp_params_example():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mlp_params.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "eager == jit: True" in result.stdout


def _run_example(name, *args):
    # PYTHONPATH: the checkout's jax_inits, whichever one the venv has installed.
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_flax_digits_example(tmp_path):
    pytest.importorskip("flax")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    out = _run_example("flax_digits.py", "--out", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    accuracies = {
        line.split()[0]: float(line.split()[-1]) for line in out.splitlines() if "accuracy" in line
    }
    # 2 epochs on 1437 images, 360 held out: well-scaled inits pass 80%.
    assert accuracies["he_normal"] > 0.8 and accuracies["orthogonal"] > 0.8


@pytest.mark.slow
def test_haiku_example():
    pytest.importorskip("haiku")
    pytest.importorskip("sklearn")
    out = _run_example("haiku_mlp.py")
    assert "param mlp/~/linear_0/w" in out and "re-initialised head" in out


@pytest.mark.slow
def test_sharded_init_example():
    out = _run_example("sharded_init.py")
    assert "sharded values == unsharded values: True" in out
    line = next(line for line in out.splitlines() if line.startswith("compiled per-device"))
    ours = float(line.split("jax_inits ")[1].split(" MiB")[0])
    per_device = float(
        next(ln for ln in out.splitlines() if ln.startswith("parameters")).split()[5]
    )
    # One shard of each parameter and the replicated norm scales (2 x 128 floats), no more.
    assert ours <= per_device + 0.01


@pytest.mark.slow
def test_mup_transfer_example(tmp_path):
    pytest.importorskip("optax")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    png = tmp_path / "transfer.png"
    out = _run_example("mup_transfer.py", "--out", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shift = {line.split()[0]: int(line.split()[-1]) for line in out.splitlines() if "shift" in line}
    # Widths 64 and 512, 8 learning rates a factor 2 apart, 150 Adam steps (seed 0).
    # Measured: muP keeps the best rate (shift 0), SP's moves 3 steps down.
    assert shift["mup"] <= 1, out
    assert shift["sp"] >= 2, out


@pytest.mark.slow
def test_depth_transfer_example(tmp_path):
    pytest.importorskip("optax")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    png = tmp_path / "depth.png"
    out = _run_example("depth_transfer.py", "--quick", "--out", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shift = {line.split()[0]: int(line.split()[-1]) for line in out.splitlines() if "shift" in line}
    # Depths 2 and 8, 6 learning rates a factor 2 apart, 100 AdamW steps (seed 0).
    # Measured: CompleteP keeps the best rate (shift 0), muP's moves 1 step. A small
    # problem: the claim tested is only that CompleteP's does not move.
    assert shift["complete_p"] == 0, out
    assert set(shift) == {"mup", "complete_p"}, out


@pytest.mark.slow
def test_port_gpt2_example():
    pytest.importorskip("flax")
    pytest.importorskip("transformers")
    out = _run_example("port_gpt2.py")
    table = [line.split() for line in out.splitlines()]
    rows = {cells[0]: cells[1:] for cells in table if len(cells) == 5 and "/" in cells[0]}
    assert "finite: True" in out and len(rows) == 4 * 12 + 4  # every parameter of 4 blocks
    for path, (ours, theirs, ours_mean, theirs_mean) in rows.items():
        ours, theirs = float(ours), float(theirs)
        if path.endswith("c_proj/kernel"):  # residual: 0.02 / sqrt(8), n >= 4096 values
            assert abs(ours / (0.02 / 8**0.5) - 1) <= 5 / (2 * 4096) ** 0.5, path
        # same std as the torch model's: 5 standard errors of two stds (n >= 4096)
        assert abs(ours - theirs) <= 5 * max(ours, theirs) / 4096**0.5, path
        assert float(ours_mean) == float(theirs_mean) or ours > 0, path  # constants equal
