"""jax_inits.diagnostics: propagation against theory, sample statistics, summaries."""

import inspect
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_inits
import jax_inits.tree
from jax_inits import diagnostics
from jax_inits._src import catalog
from jax_inits._src import diagnostics as _diagnostics_src
from jax_inits._src.diagnostics import lookup


def test_orthogonal_linear_network_keeps_norms_exactly():
    """h^l = h^0 Q_1 ... Q_l with square orthogonal Q: every row keeps its norm,
    forward and backward, for every sample (Saxe et al. 2014). The tolerance is
    float32 rounding accumulated over 32 matrix products."""
    p = diagnostics.propagate(
        jax.random.key(1), jax_inits.orthogonal(), depth=32, width=64, activation="linear"
    )
    np.testing.assert_allclose(p.forward / p.forward[0], 1.0, rtol=1e-4)
    np.testing.assert_allclose(p.backward, 1.0, rtol=1e-4)


def test_residual_with_zero_branch_is_the_identity():
    p = diagnostics.propagate(
        jax.random.key(2), "he_normal", depth=8, width=16, residual=True, residual_scale=0.0
    )
    np.testing.assert_array_equal(p.forward, jnp.full(9, p.forward[0]))
    np.testing.assert_array_equal(p.backward, jnp.ones(9))


K = 48  # independent networks


def _ratios(init, activation="relu", depth=8, width=512):
    keys = jax.random.split(jax.random.key(0), K)
    run = jax.vmap(
        lambda k: diagnostics.propagate(k, init, depth=depth, width=width, batch=32,
                                        activation=activation)
    )  # fmt: skip
    p = run(keys)
    return np.asarray(p.forward[:, -1] / p.forward[:, 0], np.float64), p


def test_he_normal_relu_keeps_the_expected_variance():
    """With Var[W] = 2/n and symmetric pre-activations, E[relu(h)^2] = E[h^2]/2, so
    E[q^l | h^{l-1}] = q^{l-1}: q^l / q^0 is a martingale with mean exactly 1
    (He et al. 2015). A single network fluctuates (the spread of log q^L grows
    like depth / width, Hanin & Rolnick 2018), so the test averages K = 48
    independent networks and allows 5 standard errors of that mean."""
    ratios, p = _ratios(jax_inits.he_normal())
    stderr = ratios.std(ddof=1) / math.sqrt(K)
    assert abs(ratios.mean() - 1.0) < 5 * stderr
    assert stderr < 0.05  # 5 standard errors < 0.25: the test would see a 25% bias
    # Backward: the mean-field (gradient-independence) approximation of Schoenholz
    # et al. 2017 predicts |dL/dh^0| = |dL/dh^L|; not an exact identity at finite
    # width, so 10% on the mean of K networks (a missing relu' would give 2^6).
    backward = np.asarray(p.backward[:, 0] ** 2, np.float64)
    assert abs(backward.mean() - 1.0) < 0.1


def test_lecun_normal_relu_halves_the_variance_per_layer():
    """Var[W] = 1/n halves E[q^l] at every relu layer: E[q^L / q^0] = 2^-L."""
    ratios, _ = _ratios(jax_inits.lecun_normal(), depth=6)
    stderr = ratios.std(ddof=1) / math.sqrt(K)
    assert abs(ratios.mean() - 2.0**-6) < 5 * stderr


def test_propagate_is_pure_under_jit():
    init = jax_inits.glorot_uniform()
    eager = diagnostics.propagate(jax.random.key(3), init, depth=5, width=16, activation="gelu")
    jitted = jax.jit(
        lambda k: diagnostics.propagate(k, init, depth=5, width=16, activation="gelu")
    )(jax.random.key(3))
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert eager.forward.shape == (6,) and eager.weight_grad.shape == (5,)


def test_propagate_accepts_jax_initializers_and_functions():
    ours = diagnostics.propagate(jax.random.key(4), jax_inits.he_normal(), depth=3, width=8)
    theirs = diagnostics.propagate(
        jax.random.key(4), jax.nn.initializers.he_normal(), depth=3, width=8
    )
    np.testing.assert_allclose(ours.forward, theirs.forward, rtol=1e-6)
    by_function = diagnostics.propagate(
        jax.random.key(4), "he_normal", depth=3, width=8, activation=jnp.tanh
    )
    np.testing.assert_allclose(ours.forward, by_function.forward, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"activation": "rleu"}, ValueError, r"unknown activation 'rleu'; did you mean: relu"),
        ({"activation": "nope"}, ValueError, r"unknown activation 'nope'; choose from linear"),
        ({"activation": 3}, TypeError, r"`activation` must be a name or a function, got 3"),
        ({"depth": 0}, ValueError, r"propagate: `depth` must be >= 1, got 0"),
        ({"width": 2.5}, TypeError, r"propagate: `width` must be an integer, got 2.5"),
        ({"residual_scale": "x"}, TypeError, r"`residual_scale` must be a real number"),
        ({"dtype": jnp.complex64}, TypeError, r"`dtype` must be a real floating dtype, got comp"),
        ({"dtype": jnp.int32}, TypeError, r"`dtype` must be a floating or complex dtype, got int"),
    ],
)
def test_propagate_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        diagnostics.propagate(jax.random.key(0), "he_normal", **kwargs)


def test_sweep_records():
    rows = diagnostics.sweep(
        jax.random.key(0), ["he_normal", "zeros"], ["relu"], variants=("plain", "residual"),
        depth=3, width=8, batch=4,
    )  # fmt: skip
    assert [(r["variant"], r["init"]) for r in rows] == [
        ("plain", "he_normal"), ("plain", "zeros"), ("residual", "he_normal"), ("residual", "zeros")
    ]  # fmt: skip
    zeros = rows[1]
    assert zeros["forward"][1:] == [0.0] * 3 and zeros["forward_status"] == "vanishing"
    assert rows[3]["forward_ratio"] == 1.0  # residual with zero weights: the identity
    with pytest.raises(ValueError, match=r"`variants` must hold .*got 'dense'"):
        diagnostics.sweep(jax.random.key(0), ["he_normal"], ["relu"], variants=("dense",))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.complex64])
def test_sample_stats_match_numpy(dtype):
    init = jax_inits.glorot_normal()
    stats = diagnostics.sample_stats(init, jax.random.key(9), (64, 32), dtype)
    w = np.asarray(init(jax.random.key(9), (64, 32), dtype)).astype(np.complex128)
    assert stats["std"] == pytest.approx(float(np.sqrt(np.mean(np.abs(w - w.mean()) ** 2))))
    assert stats["mean"] == pytest.approx(float(w.mean().real))
    assert stats["target_std"] == init.target_std((64, 32))
    if dtype == jnp.complex64:
        assert stats["lower"] is None and stats["max"] == pytest.approx(np.abs(w).max())
    else:
        limit = 2 * init.target_std((64, 32)) / 0.87962566103423978
        assert stats["lower"] == pytest.approx(-limit) and stats["upper"] == pytest.approx(limit)
        assert stats["lower"] <= stats["min"] and stats["max"] <= stats["upper"]


@pytest.mark.parametrize("entry", catalog.ENTRIES, ids=lambda e: e.name)
def test_target_density_integrates_to_one_with_the_target_std(entry):
    shape = entry.shape((64, 128))
    found = diagnostics.target_density(entry.example, shape)
    if entry.example.target_std(shape) == 0:
        assert found is None
        return
    pdf, label = found
    assert isinstance(label, str)
    std = entry.example.target_std(shape)
    if entry.complex:  # the reference is the density of the real part
        std /= math.sqrt(2)
    grid = np.linspace(-12 * std - 1, 12 * std + 1, 400_001)
    dx = grid[1] - grid[0]
    mass = pdf(grid).sum() * dx
    mean = (grid * pdf(grid)).sum() * dx
    assert mass == pytest.approx(1.0, abs=1e-3)
    assert math.sqrt(((grid - mean) ** 2 * pdf(grid)).sum() * dx) == pytest.approx(std, rel=1e-2)


def test_target_density_of_complex_samples_is_the_real_part_reference():
    init = jax_inits.glorot_normal()
    pdf, label = diagnostics.target_density(init, (64, 32), jnp.complex64)
    std = init.target_std((64, 32)) / math.sqrt(2)
    assert "real part" in label
    assert float(pdf(np.array(0.0))) == pytest.approx(1 / (std * math.sqrt(2 * math.pi)))


def test_public_bounds_density_and_check():
    tn = jax_inits.truncated_normal(0.5, mean=1.0)
    assert tn.bounds((4, 4)) == (0.0, 2.0) == diagnostics.bounds(tn, (4, 4))
    assert jax_inits.normal().bounds((4, 4)) is None
    assert jax_inits.he_uniform().bounds((4, 4), jnp.complex64) is None
    limit = (6 / 64) ** 0.5  # he_uniform: sqrt(3 * 2 / fan_in)
    assert jax_inits.he_uniform().bounds((64, 8)) == pytest.approx((-limit, limit), rel=1e-6)
    # Composed variance scaling (torch's fans) answers as the variance scaling it holds.
    torch_init = jax_inits.pytorch.kaiming_uniform(nonlinearity="relu")
    assert torch_init.bounds((64, 8)) == pytest.approx((-limit, limit), rel=1e-6)
    assert torch_init.density((64, 8))[1] == jax_inits.he_uniform().density((64, 8))[1]
    pdf, label = jax_inits.normal(2.0, mean=1.0).density((3,))
    assert label == "N(1, 2^2)"
    assert float(pdf(np.array(1.0))) == pytest.approx(1 / (2.0 * math.sqrt(2 * math.pi)))
    assert jax_inits.he_normal().density((64, 8))[1].endswith("* TN(-2, 2)")
    assert jax_inits.orthogonal().density((8, 8))[1] == "N(0, 0.3536^2) reference"
    assert jax_inits.constant(np.arange(4.0)).density((4,)) is None  # target std > 0
    assert jax_inits.zeros.density((4,)) is None
    # The call's static checks come first, with the call's message.
    assert jax_inits.he_normal().check([2, 3], "bfloat16") == ((2, 3), jnp.dtype(jnp.bfloat16))
    for method in ("bounds", "density", "check"):
        with pytest.raises(ValueError, match=r"^orthogonal: needs a shape of rank >= 2"):
            getattr(jax_inits.orthogonal(), method)((8,))
        with pytest.raises(TypeError, match=r"^complex_he: `dtype` must be a complex"):
            getattr(jax_inits.complex_he(), method)((8, 8), jnp.float32)
    # Initializers from elsewhere say neither.
    assert diagnostics.bounds(jax.nn.initializers.normal(), (4, 4)) is None
    assert diagnostics.target_density(jax.nn.initializers.normal(), (4, 4)) is None


def test_diagnostics_use_only_the_public_surface_of_initializers():
    source = inspect.getsource(_diagnostics_src)
    for private in ("._bounds", "._check_call", "._density", "InitializerBase", "VarianceScaling"):
        assert private not in source, private  # no private hooks, no isinstance ladder


def test_rms_deviation_is_the_one_std():
    x = np.array([1.0, 2.0, 4.0], np.float32)
    assert diagnostics.rms_deviation(x) == pytest.approx(float(np.std(x.astype(np.float64))))
    z = np.array([1 + 1j, -1 - 1j], np.complex64)
    assert diagnostics.rms_deviation(z) == pytest.approx(math.sqrt(2))
    assert math.isnan(diagnostics.rms_deviation(np.zeros((0, 3))))
    assert diagnostics.rms_deviation(jnp.ones((2, 2), jnp.bfloat16)) == 0.0


def test_summarize_rows_and_targets():
    key = jax.random.key(0)
    params = {
        "dense": {"kernel": jax_inits.he_normal()(key, (128, 64)), "bias": jnp.zeros(64)},
        "scale": jnp.ones((), jnp.bfloat16),
        "name": "not an array",
        "steps": 3,
    }
    summary = diagnostics.summarize(params, "he_normal")
    rows = {r.path: r for r in summary.rows}
    # The paths are jax_inits.tree's ("dense/kernel"), in tree order.
    assert [r.path for r in summary.rows] == ["dense/bias", "dense/kernel", "scale"]
    assert set(rows) <= set(jax_inits.tree.leaf_paths(params))
    kernel = rows["dense/kernel"]
    assert kernel.shape == (128, 64) and kernel.dtype == "float32"
    assert kernel.target_std == jax_inits.he_normal().target_std((128, 64))
    assert kernel.std == pytest.approx(float(jnp.std(params["dense"]["kernel"])), rel=1e-5)
    assert rows["dense/bias"].target_std is None  # fans need rank >= 2
    assert rows["scale"].dtype == "bfloat16" and rows["scale"].std == 0.0
    header = str(summary).splitlines()[0].split()
    assert header == ["path", "shape", "dtype", "std", "target", "std", "ratio"]
    assert summary.init == "he_normal()"
    assert diagnostics.summarize(params).rows[0].target_std is None
    assert summary.to_json()[1]["shape"] == [128, 64]


def test_lookup():
    assert lookup("kaiming_normal") == jax_inits.he_normal()
    assert lookup("variance_scaling", scale=2.0, mode="fan_out", distribution="uniform") == (
        jax_inits.variance_scaling(2.0, "fan_out", "uniform")
    )
    assert lookup("zeros") is jax_inits.zeros
    with pytest.raises(ValueError, match=r"unknown initializer 'glorotnormal'; did you mean: glo"):
        lookup("glorotnormal")
    with pytest.raises(ValueError, match=r"ones is a ready initializer and takes no arguments"):
        lookup("ones", dtype="float32")


def test_every_catalogue_name_resolves():
    for name in catalog.names():
        assert callable(lookup(name))


def test_equivalents_come_from_the_registry():
    assert catalog.equivalents("no_such_name") == dict.fromkeys(catalog.LIBRARIES, "-")
    assert catalog.equivalents("kaiming_normal") == catalog.equivalents("he_normal")
    assert catalog.equivalents("he_normal")["torch"] == "~torch.nn.init.kaiming_normal_"
    assert catalog.equivalents("pytorch.sparse") == {
        "torch": "torch.nn.init.sparse_(w, sparsity, std)",
        "keras": "-",
        "haiku": "-",
        "flax": "-",
    }


def test_plot_propagation_rejects_no_records(tmp_path):
    with pytest.raises(ValueError, match=r"`records` is empty"):
        diagnostics.plot_propagation([], tmp_path / "x.png")


def test_importing_jax_inits_does_not_import_matplotlib():
    code = (
        "import sys, jax_inits, jax_inits.diagnostics\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert result.returncode == 0, result.stderr


def test_every_public_object_has_a_doctest():
    for name in diagnostics.__all__:
        if name != "ACTIVATIONS":  # a dict of functions
            assert ">>>" in (getattr(diagnostics, name).__doc__ or ""), name
