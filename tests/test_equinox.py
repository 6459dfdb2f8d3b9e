"""jax_inits.tree.reinit on equinox modules: array leaves re-initialised by path,
everything else (activations, static fields) passed through."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

eqx = pytest.importorskip("equinox")

import jax_inits as ji  # noqa: E402
import jax_inits.equinox as jeqx  # noqa: E402
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


# ----------------------------------------------------------------------------- create


def _make_mlp(key):
    return eqx.nn.MLP(16, 4, width_size=32, depth=3, key=key)


def test_create_with_rules_is_tree_init_of_the_array_leaves():
    model = jeqx.create(_make_mlp, KEY, RULES)
    assert model.activation is jax.nn.relu  # static parts come from the model itself
    for i, layer in enumerate(model.layers):
        expected = LINEAR_HE(jt.leaf_key(KEY, f"layers/{i}/weight"), layer.weight.shape)
        np.testing.assert_array_equal(layer.weight, expected)
        np.testing.assert_array_equal(layer.bias, np.zeros(layer.bias.shape, np.float32))
    assert model(jnp.ones(16)).shape == (4,)


def test_create_without_rules_is_the_models_own_init():
    model = jeqx.create(_make_mlp, KEY)
    reference = eqx.filter_jit(_make_mlp)(KEY)
    for got, want in zip(model.layers, reference.layers, strict=True):
        np.testing.assert_array_equal(got.weight, want.weight)
        np.testing.assert_array_equal(got.bias, want.bias)


@pytest.mark.parametrize("rules", [RULES, None], ids=["rules", "own"])
def test_create_into_shardings(rules):
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    replicated = NamedSharding(mesh, PartitionSpec())
    columns = NamedSharding(mesh, PartitionSpec("model", None))

    def sharding(path, leaf):
        weight = getattr(path[-1], "name", None) == "weight"
        return columns if weight and leaf.shape[0] % 4 == 0 else replicated

    abstract = eqx.filter(
        eqx.filter_eval_shape(_make_mlp, KEY), lambda x: isinstance(x, jax.ShapeDtypeStruct)
    )
    shardings = jax.tree_util.tree_map_with_path(sharding, abstract)
    model = jeqx.create(_make_mlp, KEY, rules, out_shardings=shardings)
    unsharded = jeqx.create(_make_mlp, KEY, rules)
    assert model.layers[0].weight.sharding.is_equivalent_to(columns, 2)
    assert model.layers[3].bias.sharding.is_equivalent_to(replicated, 1)
    for got, want in zip(model.layers, unsharded.layers, strict=True):
        np.testing.assert_array_equal(got.weight, want.weight)


def test_create_needs_a_callable():
    with pytest.raises(TypeError, match=r"equinox\.create: `make` must be callable, got 3\."):
        jeqx.create(3, KEY)


def test_public_functions_have_doctests():
    for name in jeqx.__all__:
        assert ">>>" in getattr(jeqx, name).__doc__


def test_create_caches_the_abstract_module():
    calls = []

    def make(key):
        calls.append(1)
        return eqx.nn.Linear(4, 3, key=key)

    rules = [("weight", ji.he_normal(in_axis=-1, out_axis=-2)), ("bias", ji.zeros)]
    first = jeqx.create(make, KEY, rules)
    second = jeqx.create(make, jax.random.key(1), rules)
    assert len(calls) == 1
    assert not np.array_equal(first.weight, second.weight)


def test_reinit_returns_a_new_module_with_only_the_selected_leaves_redrawn():
    mlp = eqx.nn.MLP(4, 2, width_size=8, depth=2, key=KEY)
    other = jax.random.key(3)
    new = jeqx.reinit(mlp, other, [("*", ji.normal())], only=["layers/1/weight"])
    np.testing.assert_array_equal(
        new.layers[1].weight, ji.normal()(jt.leaf_key(other, "layers/1/weight"), (8, 8))
    )
    for path in ("layers/0/weight", "layers/1/bias", "layers/2/weight"):
        a, b = mlp, new
        for part in path.split("/"):
            a, b = (
                (a[int(part)], b[int(part)])
                if part.isdigit()
                else (getattr(a, part), getattr(b, part))
            )
        assert b is a, path
    with pytest.raises(
        ValueError, match=r"equinox\.reinit: `only` \('nope'\) matches no array leaf"
    ):
        jeqx.reinit(mlp, other, [("*", ji.zeros)], only=["nope"])


class _Hp:  # a mutable namespace, as a config module or class is
    width = 3


def test_create_rebuilds_when_an_attribute_make_reads_changes():
    # issue 30.1: the build is keyed by the attribute's value, not the namespace alone
    for width in (3, 4):
        _Hp.width = width
        model = jeqx.create(lambda k: eqx.nn.Linear(2, _Hp.width, key=k), KEY, RULES)
        assert model.weight.shape == (width, 2)
