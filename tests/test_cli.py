"""``python -m jax_inits`` driven as a user would, in a subprocess.

The JSON numbers are checked against the library computing the same thing in
this process (same key, shape and dtype), and the PNGs are read back.
"""

import json
import pathlib
import re
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits
from jax_inits import diagnostics
from jax_inits._src import catalog

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "jax_inits", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def _cli(capsys, *args):
    """``jax-inits ARGS`` in this process, as `_run` returns it (returncode, stdout,
    stderr): each subcommand runs once in a fresh process below (a user's run), its
    other cases here, without an interpreter and a jax import each."""
    status, out, err = _main_in_process(capsys, *args)
    return types.SimpleNamespace(returncode=status, stdout=out, stderr=err)


def assert_png(path, min_bytes=10_000):
    """A real PNG: signature, decodable by matplotlib, a non-trivial image."""
    image = pytest.importorskip("matplotlib.image")
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > min_bytes
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert pixels.std() > 0.01  # not a blank canvas


def test_no_subcommand_lists_every_initializer():
    result = _run()
    assert result.returncode == 0, result.stderr
    for name in catalog.names():
        assert name in result.stdout
    assert "target std" in result.stdout and "measured std" not in result.stdout
    assert "kaiming_normal_" in result.stdout and "HeNormal()" in result.stdout
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_list_without_measure_calls_no_initializer(monkeypatch):
    """The default `list` is instant: no initializer is called (nothing traced or
    compiled), every row still has its target std, and measured_std is null."""
    from jax_inits import __main__ as cli
    from jax_inits._src.base import InitializerBase

    def no_call(*args, **kwargs):
        raise AssertionError("list called an initializer without --measure")

    monkeypatch.setattr(InitializerBase, "__call__", no_call)
    rows = cli.table((64, 128), np.dtype("float32"), 0)
    assert [r["name"] for r in rows] == [e.name for e in catalog.ENTRIES]
    assert all(r["measured_std"] is None and r["error"] is None for r in rows)
    assert all(r["target_std"] is not None for r in rows)
    with pytest.raises(AssertionError, match="without --measure"):
        cli.table((64, 128), np.dtype("float32"), 0, measure=True)


@pytest.mark.slow  # measures every initializer in a fresh process, as the JSON test below
def test_list_measure_shows_the_measured_std():
    result = _run("list", "--measure", "--shape", "16,32", "--no-equivalents")
    assert result.returncode == 0, result.stderr
    assert "measured std" in result.stdout and "seed 0" in result.stdout
    w = jax_inits.he_normal()(jax.random.key(0), (16, 32))
    line = next(x for x in result.stdout.splitlines() if x.startswith("he_normal "))
    assert float(line.split()[-1]) == pytest.approx(float(w.std()), rel=1e-5)


@pytest.mark.parametrize("measure", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_list_json_numbers_match_the_library(measure, capsys):
    """Every row's numbers are the library's; with --measure (every builder drawn
    in a fresh process, ~40 s: `make test-slow`) the measured std too."""
    args = ("list", "--json", "--shape", "64,128", "--seed", "3")
    result = _run(*args, "--measure") if measure else _cli(capsys, *args)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {e.name for e in catalog.ENTRIES}
    for entry in catalog.ENTRIES:
        row = rows[entry.name]
        assert row["target_std"] == entry.example.target_std(entry.shape((64, 128)))
        assert row["formula"] == entry.example.formula
        assert row["equivalents"] == catalog.equivalents(entry.name)
    he = rows["he_normal"]
    if not measure:
        assert he["measured_std"] is None
        return
    assert he["target_std"] == pytest.approx((2 / 64) ** 0.5)
    w = jax_inits.he_normal()(jax.random.key(3), (64, 128))
    assert he["measured_std"] == pytest.approx(float(w.std()), rel=1e-5)
    assert he["equivalents"]["keras"] == "keras.initializers.HeNormal()"


@pytest.mark.parametrize(
    "command", ["list", *(pytest.param(c, marks=pytest.mark.slow) for c in ("sample", "propagate"))]
)
def test_every_subcommand_has_help(command, capsys):
    result = _cli(capsys, command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: jax-inits {command}")
    assert "--json" in result.stdout


def test_top_level_help_names_the_subcommands(capsys):
    result = _cli(capsys, "--help")
    assert result.returncode == 0
    for command in ("list", "sample", "propagate"):
        assert command in result.stdout
    assert "bench" not in result.stdout  # the harness lives in benchmarks/, not in the package


def test_sample_json_matches_the_library_and_writes_a_histogram(tmp_path):
    png = tmp_path / "h.png"
    result = _run(
        "sample", "truncated_normal", "--shape", "300,200", "--dtype", "bfloat16",
        "--arg", "stddev=0.5", "--arg", "lower=-1", "--seed", "7", "--plot", str(png), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    stats = json.loads(result.stdout)
    init = jax_inits.truncated_normal(0.5, lower=-1)  # repr shows the call as given
    w = init(jax.random.key(7), (300, 200), jnp.bfloat16).astype(jnp.float32)
    assert stats["initializer"] == repr(init) and stats["dtype"] == "bfloat16"
    assert stats["mean"] == pytest.approx(float(jnp.mean(w)), rel=1e-4, abs=1e-6)
    assert stats["std"] == pytest.approx(float(jnp.std(w)), rel=1e-4)
    assert stats["min"] == float(w.min()) and stats["max"] == float(w.max())
    assert stats["target_std"] == init.target_std((300, 200))
    assert (stats["lower"], stats["upper"]) == (-0.5, 1.0)
    assert stats["lower"] <= stats["min"] and stats["max"] <= stats["upper"]
    assert stats["plot"] == str(png)
    assert_png(png)


def test_sample_text_output_and_default_shape_of_conv_initializers(capsys):
    result = _cli(capsys, "sample", "delta_orthogonal", "--no-plot")
    assert result.returncode == 0, result.stderr
    assert "shape 3x3x256x512, dtype float32" in result.stdout
    target = jax_inits.delta_orthogonal().target_std((3, 3, 256, 512))
    assert re.search(rf"target_std\s+{target:.6g}\b", result.stdout)
    assert "histogram" not in result.stdout


def _strict(constant):
    raise AssertionError(f"{constant} is not JSON")


def test_progress_bar_on_stderr_when_asked_and_strict_json_on_stdout(capsys):
    result = _cli(
        capsys, "propagate", "--depth", "40", "--width", "16", "--batch", "8",
        "--init", "he_normal,ones", "--activation", "relu", "--variant", "plain",
        "--no-plot", "--json", "--progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout, parse_constant=_strict)["records"]  # JSON only
    assert "propagate [" in result.stderr and "2/2" in result.stderr
    ones = records[1]  # all-ones weights overflow float32: inf/nan become null
    assert ones["init"] == "ones" and None in ones["forward"] and ones["forward_status"] == "nan"


def test_list_shows_a_dash_where_an_initializer_does_not_fit_the_shape(capsys):
    result = _cli(capsys, "list", "--json", "--shape", "8")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["orthogonal"]["target_std"] is None
    assert re.match(r"orthogonal: needs a shape of rank >= 2", rows["orthogonal"]["error"])
    assert rows["normal"]["target_std"] == 0.01 and rows["normal"]["error"] is None


def test_propagate_json_matches_the_library_and_writes_a_plot(tmp_path):
    png = tmp_path / "p.png"
    result = _run(
        "propagate", "--depth", "12", "--width", "32", "--batch", "16", "--seed", "5",
        "--init", "he_normal,orthogonal", "--activation", "relu",
        "--residual-scale", "0.5", "--plot", str(png), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["plot"] == str(png) and out["seed"] == 5
    records = out["records"]
    assert [(r["variant"], r["activation"], r["init"]) for r in records] == [
        (v, a, i)
        for v in ("plain", "residual")
        for a in ("relu",)
        for i in ("he_normal", "orthogonal")
    ]
    for r in records:
        p = diagnostics.propagate(
            jax.random.key(5), getattr(jax_inits, r["init"])(), depth=12, width=32, batch=16,
            activation=r["activation"], residual=r["variant"] == "residual", residual_scale=0.5,
        )  # fmt: skip
        np.testing.assert_allclose(r["forward"], p.forward, rtol=1e-5)
        np.testing.assert_allclose(r["backward"], p.backward, rtol=1e-5)
        np.testing.assert_allclose(r["weight_grad"], p.weight_grad, rtol=1e-5)
        assert r["forward_ratio"] == pytest.approx(float(p.forward[-1] / p.forward[0]), rel=1e-5)
        assert r["forward_status"] == diagnostics.status(r["forward_ratio"])
    assert_png(png)


def test_propagate_table(capsys):
    result = _cli(
        capsys, "propagate", "--depth", "4", "--width", "8", "--batch", "4", "--init", "he_normal",
        "--activation", "tanh", "--variant", "residual", "--no-plot",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"^residual\s+tanh\s+he_normal\s", result.stdout, re.M)
    assert "plot:" not in result.stdout


BAD_ARGUMENTS = [
    (("--shape", "3,x"), r"--shape must be comma-separated non-negative integers.*'3,x'"),
    (("--shape", "3,-1"), r"--shape must be comma-separated non-negative integers"),
    (("--dtype", "int32"), r"--dtype must be a floating or complex dtype .*'int32'"),
    (("sample", "he_norml"), r"error: unknown initializer 'he_norml'; did you mean: he_normal"),
    (("sample", "xyzzy"), r"error: unknown initializer 'xyzzy'; `jax-inits list` shows"),
    (("sample", "normal", "--arg", "stddev"), r"--arg must be KEY=VALUE .*'stddev'"),
    (("sample", "normal", "--arg", "stddev=-1"), r"normal: `stddev` must be >= 0, got -1"),
    (("sample", "zeros", "--arg", "value=1"), r"zeros is a ready initializer"),
    (("propagate", "--init", "orthogonl"), r"unknown initializer 'orthogonl'; did you mean"),
    (("propagate", "--activation", "rleu"), r"unknown activation 'rleu'; did you mean: relu"),
    (("propagate", "--variant", "dense"), r"--variant must be a comma-separated subset"),
    (("propagate", "--depth", "0"), r"--depth: must be a positive integer, got '0'"),
    # issue 30.16
    (("coord-check", "--depths", "2", "4", "--lr", "-1"), r"--lr: must be a finite number > 0"),
    (("coord-check", "--depths", "2", "4", "--widths", "8,16"), r"--widths is for the width sw"),
    (("sample", "normal", "--shape", "4,,4"), r"--shape must be comma-separated .*'4,,4'"),
    *(
        pytest.param(*case, marks=pytest.mark.slow)
        for case in (
            (("coord-check", "--lr", "nan"), r"--lr: must be a finite number > 0, got 'nan'"),
            (("coord-check", "--width", "8"), r"--width is for the depth sweep \(with --depths"),
            (("coord-check", "--depths", "2", "4", "--base-width", "8"), r"--base-width is for"),
            (("coord-check", "--base-depth", "3"), r"--base-depth is for the depth sweep"),
            (("sample", "normal", "--shape", "4,"), r"--shape must be comma-separated .*'4,'"),
            (("sample", "normal", "--shape", ""), r"--shape must be comma-separated .*''"),
        )
    ),
]


@pytest.mark.parametrize("args,message", BAD_ARGUMENTS)
def test_bad_arguments_exit_2_with_one_clear_line(args, message, capsys):
    """The first case as a user runs it (a fresh process), the others in this process
    (the same `main`, without a jax import each): exit status 2, one clear line."""
    if args == BAD_ARGUMENTS[0][0]:
        result = _run(*args)
        status, out, err = result.returncode, result.stdout, result.stderr
    else:
        status, out, err = _main_in_process(capsys, *args)
    assert status == 2, out
    assert re.search(message, err), err
    assert "Traceback" not in err and out == ""


def test_sample_a_builder_with_a_nested_initializer(capsys):
    # issue 30.16: a nested initializer is a JSON config; a required one not given takes
    # the registered example's
    config = '{"name": "normal", "args": {"stddev": 0.5}}'
    argv = ("sample", "zero_row", "--arg", "index=2", "--shape", "4,64", "--no-plot", "--json")
    status, out, err = _main_in_process(capsys, *argv, "--arg", f"init={config}")
    assert status == 0, err
    stats = json.loads(out)
    assert stats["initializer"].startswith("zero_row(") and "0.5" in stats["initializer"]
    assert stats["target_std"] == pytest.approx(0.5 * (3 / 4) ** 0.5)
    status, out, err = _main_in_process(capsys, *argv)
    assert status == 0, err


def _main_in_process(capsys, *argv):
    """``jax-inits ARGV`` in this process (no jax import per case): (status, out, err)."""
    from jax_inits import __main__ as cli

    try:
        status = cli.main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_of_a_zero_size_shape_shows_nan_targets(capsys):
    status, out, err = _main_in_process(capsys, "list", "--shape", "0,4", "--json")
    assert status == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    for name in ("he_normal", "lecun_uniform", "pytorch.kaiming_normal", "normal"):
        assert rows[name]["error"] is None and rows[name]["target_std"] is None  # nan in JSON


def test_sample_of_a_zero_size_shape_is_one_error_line(capsys):
    status, out, err = _main_in_process(capsys, "sample", "he_normal", "--shape", "0,4")
    assert status == 2 and out == ""
    assert err.startswith("usage: jax-inits sample")
    assert re.search(
        r"^jax-inits sample: error: --shape 0,4 has no elements: sample needs at least one$",
        err,
        re.M,
    )


@pytest.mark.parametrize(
    "argv,message",
    [
        (("sample", "he_normal", "--shape", "-1,4"), r"--shape must be comma-separated .*'-1,4'"),
        (
            ("coord-check", "--widths", "16,32,64"),
            r"error: --widths must all be >= --base-width 64, got 16,32,64; "
            r"pass --base-width 16 or less",
        ),
        (("sample", "normal", "--arg", "stddev=-1"), r"normal: `stddev` must be >= 0, got -1"),
    ],
)
def test_cli_errors_print_the_usage_then_one_line(capsys, argv, message):
    status, out, err = _main_in_process(capsys, *argv)
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"usage: jax-inits {argv[0]}")
    assert re.search(message, lines[-1]) and lines[-1].startswith(f"jax-inits {argv[0]}: error:")
    assert "Traceback" not in err


def test_coord_check_takes_progress():
    from jax_inits import __main__ as cli

    args = cli.build_parser().parse_args(["coord-check", "--progress"])
    assert args.progress is True


def test_coord_check_without_optax_names_the_extra(capsys, monkeypatch):
    # issue 30.15: was a bare ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "optax", None)
    status, out, err = _main_in_process(capsys, "coord-check", "--no-plot")
    assert status == 2 and out == ""
    assert re.search(r"error: diagnostics.coord_check_mlp needs optax .*jax-inits\[cli\]", err)
