"""jax_inits.tree.reinit on equinox modules: array leaves re-initialised by path,
everything else (activations, static fields) passed through."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

eqx = pytest.importorskip("equinox")

import jax_inits as ji  # noqa: E402
import jax_inits.tree as jt  # noqa: E402

KEY = jax.random.key(0)
# equinox stores Linear weights as (out, in) and Conv weights as (out, in, *kernel).
LINEAR_HE = ji.he_normal(in_axis=-1, out_axis=-2)
CONV_HE = ji.he_normal(in_axis=1, out_axis=0)
RULES = [("*weight", LINEAR_HE), ("*bias", ji.zeros)]


def _mlp():
    return eqx.nn.MLP(64, 10, width_size=256, depth=2, key=jax.random.key(1))


def test_paths_of_an_equinox_mlp():
    paths = jt.leaf_paths(eqx.filter(_mlp(), eqx.is_array))
    assert "layers/0/weight" in paths and "layers/2/bias" in paths


def test_reinit_mlp_values_and_statistics():
    model = _mlp()
    new = jt.reinit(model, KEY, RULES)
    assert new.activation is model.activation  # a function leaf, passed through
    for i, layer in enumerate(new.layers):
        expected = LINEAR_HE(jt.leaf_key(KEY, f"layers/{i}/weight"), layer.weight.shape)
        np.testing.assert_array_equal(layer.weight, expected)
        assert float(jnp.abs(layer.bias).max()) == 0.0
    # 256 x 256 hidden weight: n = 65536, target sqrt(2/256); tol 5/sqrt(2n) = 1.4% (seed 0).
    w = new.layers[1].weight
    assert abs(float(w.std()) / (2 / 256) ** 0.5 - 1) < 5 / (2 * w.size) ** 0.5
    out = eqx.filter_jit(lambda m, x: m(x))(new, jnp.ones(64))
    assert out.shape == (10,)


def test_reinit_conv_with_donation():
    conv = eqx.nn.Conv2d(16, 32, 3, key=jax.random.key(2))
    old_weight = conv.weight
    new = jt.reinit(conv, KEY, [("weight", CONV_HE), ("bias", None)], donate=True)
    assert old_weight.is_deleted()
    assert new.bias is conv.bias
    expected = CONV_HE(jt.leaf_key(KEY, "weight"), (32, 16, 3, 3))
    np.testing.assert_array_equal(new.weight, expected)


def test_unmatched_equinox_leaf():
    with pytest.raises(ValueError, match=r"tree\.reinit: no rule matches the leaf at path 'bias'"):
        jt.reinit(eqx.nn.Linear(3, 4, key=KEY), KEY, [("weight", LINEAR_HE)])
