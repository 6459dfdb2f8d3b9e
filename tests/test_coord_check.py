"""jax_inits.diagnostics.coord_check: flat under muP, growing under SP; its plot and CLI."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from jax_inits import diagnostics

pytest.importorskip("optax")


@pytest.fixture(scope="module")
def results():
    out = {}
    for scheme in ("sp", "mup"):
        setup, batch = diagnostics.coord_check_mlp(scheme, base_width=32, batch_size=64)
        out[scheme] = diagnostics.coord_check(setup, [32, 256], batch, steps=3)
    return out


def test_flat_under_mup_growing_under_sp(results):
    # Width x8 after 3 Adam steps (lr 0.01, seed 0). SP's logits grow about like the
    # width (the readout's update adds up 256 aligned terms instead of 32); muP's stay.
    # Measured: SP output x6.1, muP x0.95 (widths 64 -> 512); the bounds leave room.
    sp, mu = results["sp"].growth(), results["mup"].growth()
    assert sp["output"] > 3.0
    assert 0.5 < mu["output"] < 2.0
    for name in ("hidden1", "hidden2"):
        assert 0.5 < mu[name] < 2.0, (name, mu[name])
    assert results["mup"].sizes["output"].shape == (2, 4)
    assert "widest/narrowest" in str(results["mup"]) and "w=256" in str(results["mup"])


def test_plot_writes_a_png(results, tmp_path):
    pytest.importorskip("matplotlib")
    path = diagnostics.plot_coord_check(results, tmp_path / "cc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors():
    setup, batch = diagnostics.coord_check_mlp("mup", base_width=8, batch_size=8)
    with pytest.raises(ValueError, match=r"coord_check: `widths` must be two or more widths"):
        diagnostics.coord_check(setup, [8], batch)
    with pytest.raises(ValueError, match=r"coord_check: `steps` must be >= 1, got 0"):
        diagnostics.coord_check(setup, [8, 16], batch, steps=0)
    with pytest.raises(TypeError, match=r"coord_check: `setup` must be callable"):
        diagnostics.coord_check(3, [8, 16], batch)
    with pytest.raises(ValueError, match=r"coord_check: `axis` must be one of .*, got 'layers'"):
        diagnostics.coord_check(setup, [8, 16], batch, axis="layers")

    def renaming(width, key):
        params = {"w": jnp.ones((2, width))}

        def apply(p, x):
            return jnp.sum(p["w"]), {f"layer{width}": p["w"]}

        class Tx:
            init = staticmethod(lambda p: ())
            update = staticmethod(lambda g, s, p: (jax.tree.map(lambda u: -u, g), s))

        return params, apply, Tx()

    with pytest.raises(ValueError, match=r"the same activation names at every width"):
        diagnostics.coord_check(renaming, [8, 16], None, steps=1)


@pytest.mark.slow  # a fresh process training two schemes; the library call is tested above
def test_cli(tmp_path):
    png = tmp_path / "cc.png"
    args = ["coord-check", "--scheme", "mup", "--widths", "16,64", "--base-width", "16"]
    args += ["--steps", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "jax_inits", *args, "--json", "--plot", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"mup"}
    assert data["mup"]["widths"] == [16, 64] and set(data["mup"]["sizes"]) == {
        "hidden1",
        "hidden2",
        "output",
    }
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run(
        [sys.executable, "-m", "jax_inits", "coord-check", "--scheme", "ntk", "--no-plot"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "unknown scheme 'ntk'" in bad.stderr


@pytest.mark.slow
def test_depth_sweep_flat_under_depth_schemes_growing_under_width_only():
    """Depth x8 (2 -> 16) at width 32, 3 AdamW steps (lr 0.01, seed 0, 64 examples): the
    update of the residual stream after the last block. Measured (width 64, depths 2..32,
    4 steps, in docs/guides/mup.md): sp and mup x15.7, depth_mup x0.94, complete_p x0.72,
    u_mup x0.82; the bounds leave room."""
    growth = {}
    for scheme in ("sp", "mup", "depth_mup", "complete_p", "u_mup"):
        setup, batch = diagnostics.coord_check_residual(scheme, width=32, batch_size=64)
        r = diagnostics.coord_check(setup, [2, 16], batch, steps=3, axis="depth")
        assert r.axis == "depth" and "d=16" in str(r) and "deepest/shallowest" in str(r)
        growth[scheme] = r.growth()["update block L"]
    assert growth["sp"] > 3.0 and growth["mup"] > 3.0, growth
    for scheme in ("depth_mup", "complete_p", "u_mup"):
        assert 0.4 < growth[scheme] < 2.0, growth


@pytest.mark.slow
def test_cli_depths(tmp_path):
    png = tmp_path / "cc.png"
    args = ["coord-check", "--scheme", "sp,complete_p", "--depths", "2", "4", "--width", "16"]
    args += ["--steps", "1", "--json", "--plot", str(png)]
    result = subprocess.run(
        [sys.executable, "-m", "jax_inits", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"sp", "complete_p"} and data["sp"]["depths"] == [2, 4]
    assert "update block L" in data["complete_p"]["sizes"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run(
        [sys.executable, "-m", "jax_inits", "coord-check", "--depths", "4", "--no-plot"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--depths needs two or more depths" in bad.stderr


def test_depth_sweep_rows_by_block_and_a_zero_update_at_step_0():
    # issue 30.17: the step-0 update was ~1e-8 (eager vs compiled forward pass), rows came
    # out block 1, L, L/2
    setup, batch = diagnostics.coord_check_residual("complete_p", width=8, batch_size=8)
    r = diagnostics.coord_check(setup, [2, 3], batch, steps=1, axis="depth")
    assert list(r.sizes) == [
        "update block 1", "update block L/2", "update block L", "update logits"
    ]  # fmt: skip
    for name, sizes in r.sizes.items():
        assert (sizes[:, 0] == 0.0).all() and (sizes[:, 1] > 0).all(), name
