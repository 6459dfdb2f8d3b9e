"""jax_inits.tree: rules, path-derived keys, one jit, reinit with donation, LSUV."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jax_inits as ji
import jax_inits.tree as jt
from jax_inits._src import catalog
from jax_inits._src import tree as tree_src

KEY = jax.random.key(0)
F32 = jnp.float32


def _sds(*shape, dtype=F32, sharding=None):
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _mlp_spec(n_layers):
    return {f"layer{i}": {"kernel": _sds(8, 8), "bias": _sds(8)} for i in range(n_layers)} | {
        "head": {"kernel": _sds(8, 3)}
    }


RULES = [("*/kernel", ji.he_normal()), ("*/bias", ji.zeros)]


def test_leaf_values_are_initializer_with_leaf_key():
    params = jt.init(KEY, _mlp_spec(2), RULES)
    for path in ("layer0/kernel", "layer1/kernel", "head/kernel"):
        layer, name = path.split("/")
        leaf = params[layer][name]
        expected = ji.he_normal()(jt.leaf_key(KEY, path), leaf.shape)
        np.testing.assert_array_equal(leaf, expected)
    assert not np.array_equal(params["layer0"]["kernel"], params["layer1"]["kernel"])


def test_leaf_key_is_the_documented_derivation():
    # fold_in(fold_in(key, w0), w1), w0/w1 the little-endian words of BLAKE2b-64(path).
    import hashlib

    digest = hashlib.blake2b(b"encoder/0/kernel", digest_size=8).digest()
    w0, w1 = np.frombuffer(digest, "<u4")
    expected = jax.random.fold_in(jax.random.fold_in(KEY, w0), w1)
    np.testing.assert_array_equal(
        jax.random.key_data(jt.leaf_key(KEY, "encoder/0/kernel")), jax.random.key_data(expected)
    )


def test_adding_a_layer_does_not_change_the_others():
    small, big = jt.init(KEY, _mlp_spec(2), RULES), jt.init(KEY, _mlp_spec(5), RULES)
    for layer in ("layer0", "layer1", "head"):
        for name in small[layer]:
            np.testing.assert_array_equal(small[layer][name], big[layer][name])


def test_list_position_is_part_of_the_path():
    spec = [_sds(4, 4), _sds(4, 4)]
    a = jt.init(KEY, spec, [("*", ji.normal())])
    np.testing.assert_array_equal(a[1], ji.normal()(jt.leaf_key(KEY, "1"), (4, 4)))


def test_first_matching_rule_wins_and_patterns_kinds():
    spec = {"enc": {"kernel": _sds(4, 4), "bias": _sds(4)}, "dec": {"kernel": _sds(4, 4)}}
    rules = [
        (re.compile(r"enc/k.*"), ji.constant(1.0)),
        (lambda path, leaf: leaf.ndim == 1, ji.constant(2.0)),
        ("*kernel", ji.constant(3.0)),
        ("*", ji.constant(4.0)),
    ]
    out = jt.init(KEY, spec, rules)
    assert float(out["enc"]["kernel"][0, 0]) == 1.0
    assert float(out["enc"]["bias"][0]) == 2.0
    assert float(out["dec"]["kernel"][0, 0]) == 3.0
    # A mapping is tried in insertion order too.
    out = jt.init(KEY, spec, {"*": ji.ones, "enc/*": ji.zeros})
    assert float(out["enc"]["bias"].sum()) == 4.0


def test_regex_must_match_the_whole_path():
    with pytest.raises(ValueError, match=r"no rule matches the leaf at path 'dense/kernel'"):
        jt.init(KEY, {"dense": {"kernel": _sds(2, 2)}}, [(re.compile("kernel"), ji.ones)])


def test_jax_nn_initializers_are_accepted():
    spec = {"w": _sds(16, 8), "b": _sds(8)}
    rules = [("w", jax.nn.initializers.glorot_uniform()), ("b", jax.nn.initializers.zeros)]
    out = jt.init(KEY, spec, rules)
    expected = jax.jit(jax.nn.initializers.glorot_uniform(), static_argnums=(1,))(
        jt.leaf_key(KEY, "w"), (16, 8)
    )
    np.testing.assert_array_equal(out["w"], expected)


def test_dtype_from_spec_and_arrays_as_spec():
    out = jt.init(KEY, {"w": _sds(4, 4, dtype=jnp.bfloat16), "x": jnp.zeros(3)}, [("*", ji.ones)])
    assert out["w"].dtype == jnp.bfloat16 and out["x"].shape == (3,)


def test_whole_tree_is_one_jit():
    jaxpr = jax.make_jaxpr(lambda k: jt.init(k, _mlp_spec(3), RULES))(KEY)
    assert [e.primitive.name for e in jaxpr.jaxpr.eqns] == ["jit"]


@pytest.mark.parametrize("name", [e.name for e in catalog.ENTRIES])
def test_every_initializer_through_tree_init(name):
    entry = {e.name: e for e in catalog.ENTRIES}[name]
    shape = entry.shape((6, 10))
    dtype = entry.dtype(F32)
    out = jt.init(KEY, {"p": _sds(*shape, dtype=dtype)}, [("p", entry.example)])
    expected = entry.example(jt.leaf_key(KEY, "p"), shape, dtype)
    np.testing.assert_array_equal(out["p"], expected)


def test_sharded_spec_and_out_shardings_equal_unsharded():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    rules = [("ours", ji.he_normal()), ("jax", jax.nn.initializers.he_normal())]
    plain = jt.init(KEY, {"ours": _sds(16, 24), "jax": _sds(16, 24)}, rules)
    from_spec = jt.init(KEY, {"ours": _sds(16, 24, sharding=sharding), "jax": _sds(16, 24)}, rules)
    from_arg = jt.init(
        KEY, {"ours": _sds(16, 24), "jax": _sds(16, 24)}, rules, out_shardings=sharding
    )
    assert from_spec["ours"].sharding.is_equivalent_to(sharding, 2)
    for name in ("ours", "jax"):
        assert from_arg[name].sharding.is_equivalent_to(sharding, 2)
        np.testing.assert_array_equal(from_arg[name], plain[name])
    np.testing.assert_array_equal(from_spec["ours"], plain["ours"])


def test_partition_specs_on_explicit_mesh():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
    spec = {"ours": _sds(16, 24), "jax": _sds(16, 24)}
    rules = [("ours", ji.lecun_normal()), ("jax", jax.nn.initializers.lecun_normal())]
    plain = jt.init(KEY, spec, rules)
    with jax.set_mesh(mesh):
        out = jt.init(KEY, spec, rules, out_shardings={"ours": P("x", "y"), "jax": P(None, "y")})
    assert out["ours"].sharding.is_equivalent_to(NamedSharding(mesh, P("x", "y")), 2)
    assert out["jax"].sharding.is_equivalent_to(NamedSharding(mesh, P(None, "y")), 2)
    for name in spec:
        np.testing.assert_array_equal(out[name], plain[name])


def test_reinit_equals_init_and_keeps_layout():
    mesh = jax.make_mesh((8,), ("x",), axis_types=(AxisType.Auto,))
    sharding = NamedSharding(mesh, P("x"))
    params = {"w": jax.device_put(jnp.zeros((16, 4)), sharding), "b": jnp.ones(4), "n": 3}
    new = jt.reinit(params, KEY, [("w", ji.glorot_normal()), ("b", None)])
    assert new["n"] == 3  # not an array: passed through
    np.testing.assert_array_equal(new["b"], params["b"])
    assert new["w"].sharding.is_equivalent_to(sharding, 2)
    fresh = jt.init(KEY, {"w": _sds(16, 4)}, [("w", ji.glorot_normal())])
    np.testing.assert_array_equal(new["w"], fresh["w"])


def test_reinit_donates_old_buffers():
    params = {"w": jnp.zeros((64, 64)), "b": jnp.ones(64)}
    pointer = params["w"].unsafe_buffer_pointer()
    new = jt.reinit(params, KEY, [("w", ji.he_normal()), ("b", None)], donate=True)
    assert params["w"].is_deleted()
    assert new["w"].unsafe_buffer_pointer() == pointer  # the new weight reuses the old memory
    assert new["b"] is params["b"] and not params["b"].is_deleted()  # kept, not copied


def test_reinit_without_donation_keeps_old_buffers():
    params = {"w": jnp.zeros((8, 8))}
    jt.reinit(params, KEY, [("w", ji.he_normal())])
    assert not params["w"].is_deleted()


def test_leaf_paths():
    assert jt.leaf_paths({"a": [1, {"b": 2}], "c": (3,)}) == ["a/0", "a/1/b", "c/0"]


# ----------------------------------------------------------------------------- errors


def test_unmatched_leaf_names_its_path():
    with pytest.raises(
        ValueError,
        match=r"tree\.init: no rule matches the leaf at path 'head/kernel' \(shape \(8, 3\)",
    ):
        jt.init(KEY, _mlp_spec(1), [("layer*", ji.ones)])


def test_reinit_unmatched_leaf_names_its_path():
    with pytest.raises(ValueError, match=r"tree\.reinit: no rule matches the leaf at path 'b'"):
        jt.reinit({"b": jnp.ones(2)}, KEY, [("w", ji.ones)])


@pytest.mark.parametrize(
    "rules, message",
    [
        (
            "*",
            r"tree\.init: `rules` must be a mapping or a sequence of "
            r"\(pattern, initializer\) pairs, got '\*'",
        ),
        (3, r"`rules` must be a mapping .* got 3\."),
        ([("*", ji.ones, 1)], r"got the item \('\*', .*, 1\)\."),
        ([(3, ji.ones)], r"a rule's pattern must be a glob string, a compiled regex .* got 3\."),
        ([("*", "he_normal")], r"the rule for '\*' must map to an initializer, got 'he_normal'\."),
        ([("*", None)], r"the rule for '\*' must map to an initializer, got None\."),
    ],
)
def test_bad_rules(rules, message):
    error = TypeError
    with pytest.raises(error, match=message):
        jt.init(KEY, {"w": _sds(2)}, rules)


def test_reinit_bad_rule_mentions_keep():
    with pytest.raises(TypeError, match=r"must map to an initializer or None \(keep the leaf\)"):
        jt.reinit({"w": jnp.ones(2)}, KEY, [("*", 1.0)])


def test_bad_spec_leaf():
    with pytest.raises(
        TypeError,
        match=r"tree\.init: `spec` leaves must be jax\.ShapeDtypeStruct or arrays, "
        r"got 4 at path 'w/0'",
    ):
        jt.init(KEY, {"w": (4, 4)}, [("*", ji.ones)])


def test_bad_key():
    with pytest.raises(TypeError, match=r"tree\.init: `key` must be a single PRNG key"):
        jt.init(0, {"w": _sds(2)}, [("*", ji.ones)])
    with pytest.raises(TypeError, match=r"tree\.reinit: `key` must be a single PRNG key"):
        jt.reinit({"w": jnp.ones(2)}, jax.random.split(KEY), [("*", ji.ones)])
    with pytest.raises(TypeError, match=r"leaf_key: `key` must be a single PRNG key"):
        jt.leaf_key("k", "w")
    with pytest.raises(TypeError, match=r"leaf_key: `path` must be a str, got \('w',\)"):
        jt.leaf_key(KEY, ("w",))


def test_duplicate_paths_are_an_error():
    with pytest.raises(ValueError, match=r"tree\.init: two leaves have the same path 'a/b'"):
        jt.init(KEY, {"a/b": _sds(2), "a": {"b": _sds(2)}}, [("*", ji.ones)])


def test_bad_out_shardings():
    with pytest.raises(
        ValueError,
        match=r"tree\.init: `out_shardings` must be one sharding for every leaf or a pytree",
    ):
        jt.init(KEY, {"w": _sds(2), "b": _sds(2)}, [("*", ji.ones)], out_shardings={"w": None})
    with pytest.raises(
        TypeError,
        match=r"tree\.init: a leaf's sharding must be a jax\.sharding\.Sharding, "
        r"a PartitionSpec or None, got 'x'",
    ):
        jt.init(KEY, {"w": _sds(2)}, [("*", ji.ones)], out_shardings={"w": "x"})


def test_unhashable_initializer_still_works():
    class Unhashable:
        __hash__ = None

        def __call__(self, key, shape, dtype=None):
            return jnp.full(shape, 7.0, dtype)

    out = jt.init(KEY, {"w": _sds(2)}, [("*", Unhashable())])
    assert float(out["w"].sum()) == 14.0


def test_equal_plans_share_one_compiled_function():
    tree_src._build_cached.cache_clear()
    jt.init(KEY, _mlp_spec(1), RULES)
    jt.init(jax.random.key(5), _mlp_spec(1), RULES)
    info = tree_src._build_cached.cache_info()
    assert (info.misses, info.hits) == (1, 1)


# ----------------------------------------------------------------------------- LSUV


def _linear_net(params, x):
    h1 = x @ params["l1"]
    h2 = jnp.tanh(h1) @ params["l2"]
    return [h1, h2]


def test_lsuv_reaches_unit_variance_and_is_pure():
    # 512 samples of a 32-wide input; both layers are linear in their weight, so
    # one rescale lands on Var = 1 up to float32 rounding (tolerance 1e-4).
    x = jax.random.normal(jax.random.key(1), (512, 32))
    params = jt.init(KEY, {"l1": _sds(32, 64), "l2": _sds(64, 16)}, [("*", ji.orthogonal(3.0))])
    before = {k: np.asarray(v) for k, v in params.items()}
    out = jt.lsuv(_linear_net, params, x, ["l1", "l2"])
    for y in _linear_net(out, x):
        assert abs(float(jnp.var(y)) - 1.0) < 1e-4
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])  # input untouched
        ratio = np.asarray(out[k]) / before[k]
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)  # a pure rescale


def test_lsuv_target_var_and_tolerance():
    x = jax.random.normal(jax.random.key(1), (512, 32))
    params = jt.init(KEY, {"l1": _sds(32, 64), "l2": _sds(64, 16)}, [("*", ji.orthogonal())])
    out = jt.lsuv(_linear_net, params, x, [re.compile("l1"), "l2"], target_var=0.25, tol=1e-3)
    assert [round(float(jnp.var(y)), 3) for y in _linear_net(out, x)] == [0.25, 0.25]
    # Var = 1 is within tol = 0.8 of 0.25 + 0.8: nothing changes.
    same = jt.lsuv(_linear_net, out, x, ["l1", "l2"], target_var=1.0, tol=0.8)
    for k in out:
        np.testing.assert_array_equal(same[k], out[k])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"apply_fn": 3}, TypeError, r"lsuv: `apply_fn` must be callable, got 3\."),
        (
            {"weights": "l1"},
            TypeError,
            r"lsuv: `weights` must be a sequence of patterns, one per layer, got 'l1'\.",
        ),
        (
            {"weights": ["l*"]},
            ValueError,
            r"lsuv: each pattern in `weights` must match exactly one array leaf; "
            r"'l\*' matches \['l1', 'l2'\]\.",
        ),
        ({"weights": ["zz", "l2"]}, ValueError, r"'zz' matches none\."),
        ({"weights": [4, "l2"]}, TypeError, r"lsuv: a rule's pattern must be a glob string"),
        (
            {"weights": ["l1"]},
            ValueError,
            r"lsuv: `apply_fn` must return one output per entry of `weights` \(1\), got 2\.",
        ),
        ({"tol": 0.0}, ValueError, r"lsuv: `tol` must be > 0, got 0\.0\."),
        ({"target_var": -1.0}, ValueError, r"lsuv: `target_var` must be > 0, got -1\.0\."),
        ({"max_iters": 0}, ValueError, r"lsuv: `max_iters` must be >= 1, got 0\."),
        ({"max_iters": 1.5}, TypeError, r"lsuv: `max_iters` must be an integer, got 1\.5\."),
    ],
)
def test_lsuv_errors(kwargs, error, message):
    x = jnp.ones((4, 2))
    args = {"apply_fn": _linear_net, "weights": ["l1", "l2"]} | kwargs
    params = {"l1": jnp.ones((2, 3)), "l2": jnp.ones((3, 2))}
    with pytest.raises(error, match=message):
        jt.lsuv(args.pop("apply_fn"), params, x, args.pop("weights"), **args)


def test_lsuv_zero_variance_layer():
    params = {"l1": jnp.zeros((2, 3)), "l2": jnp.ones((3, 2))}
    with pytest.raises(
        ValueError,
        match=r"lsuv: the output of layer 0 \(weight 'l1'\) has variance 0\.0; "
        r"it must be finite and > 0",
    ):
        jt.lsuv(_linear_net, params, jnp.ones((4, 2)), ["l1", "l2"])


def test_lsuv_on_a_flax_mlp_with_digits():
    """LSUV on a linen MLP with the 1797 scikit-learn digits (bundled, no download).

    Start from orthogonal kernels scaled by 5 (far from unit variance), normalise
    on the first 512 images, then check the pre-activations of the other 1285
    images: with tol=0.1 the calibration batch ends within 0.1 of Var = 1; on
    held-out data the sample variance of 1285 x 64 values differs by a few percent
    more, so we allow 0.2.
    """
    nn = pytest.importorskip("flax.linen")
    datasets = pytest.importorskip("sklearn.datasets")
    x_all, _ = datasets.load_digits(return_X_y=True)
    x_all = jnp.asarray(x_all / 16.0, F32)
    calib, held_out = x_all[:512], x_all[512:]

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            outs = []
            for i, width in enumerate((64, 64, 10)):
                x = nn.Dense(width, name=f"dense{i}")(x)
                outs.append(x)
                x = nn.relu(x)
            return outs

    model = MLP()
    spec = jax.eval_shape(model.init, KEY, calib)
    params = jt.init(KEY, spec, [("*/kernel", ji.orthogonal(5.0)), ("*/bias", ji.zeros)])

    def apply(p, x):
        return model.apply(p, x)

    weights = [f"params/dense{i}/kernel" for i in range(3)]
    before = [float(jnp.var(y)) for y in apply(params, calib)]
    assert all(v > 5 for v in before)
    out = jt.lsuv(apply, params, calib, weights, tol=0.1)
    for v in (float(jnp.var(y)) for y in apply(out, calib)):
        assert abs(v - 1.0) < 0.1
    for v in (float(jnp.var(y)) for y in apply(out, held_out)):
        assert abs(v - 1.0) < 0.2


def test_partition_spec_without_mesh():
    with pytest.raises(
        ValueError,
        match=r"tree\.init: the sharding (P|PartitionSpec)\('x',?\) of the leaf at path 'w' "
        r"is a PartitionSpec, which needs a mesh",
    ):
        jt.init(KEY, {"w": _sds(8)}, [("*", ji.ones)], out_shardings=P("x"))


def test_raw_uint32_keys():
    raw = jax.random.PRNGKey(3)
    out = jt.init(raw, {"w": _sds(4, 4)}, [("*", ji.normal())])
    np.testing.assert_array_equal(out["w"], ji.normal()(jt.leaf_key(raw, "w"), (4, 4)))


@pytest.mark.parametrize("name", jt.__all__)
def test_public_functions_have_doctests(name):
    assert ">>>" in getattr(jt, name).__doc__


# --- deferred rules: tree.deferred and tree.sibling -------------------------------------------


def _conv_spec():
    return {
        "conv": {
            "kernel": jax.ShapeDtypeStruct((3, 3, 16, 4096), jnp.float32),  # fan_in 144
            "bias": jax.ShapeDtypeStruct((4096,), jnp.float32),
        },
        "dense": {
            "kernel": jax.ShapeDtypeStruct((25, 4096), jnp.float32),  # fan_in 25
            "bias": jax.ShapeDtypeStruct((4096,), jnp.float32),
        },
    }


def _torch_bias():
    return jt.sibling("kernel", lambda k: ji.pytorch.linear_bias_default(math.prod(k[:-1])))


def test_sibling_gives_each_bias_its_own_kernels_fan_in():
    rules = [("*kernel", ji.pytorch.linear_default()), ("*bias", _torch_bias())]
    params = jt.init(jax.random.key(0), _conv_spec(), rules)
    for name, fan_in in (("conv", 144), ("dense", 25)):
        bias = np.asarray(params[name]["bias"])
        bound = 1 / math.sqrt(fan_in)
        # U(-b, b): n = 4096 draws reach within 5/n * 2b of both ends (P(miss) = e^-5 per end).
        assert bias.max() <= bound and bias.min() >= -bound
        assert bias.max() > bound * (1 - 10 / 4096) and bias.min() < -bound * (1 - 10 / 4096)


def test_sibling_values_equal_the_resolved_initializer_at_the_leaf_key():
    key = jax.random.key(3)
    params = jt.init(key, _conv_spec(), [("*kernel", ji.zeros), ("*", _torch_bias())])
    expected = ji.pytorch.linear_bias_default(25)(jt.leaf_key(key, "dense/bias"), (4096,))
    np.testing.assert_array_equal(params["dense"]["bias"], expected)
    again = jt.reinit(params, key, [("*kernel", None), ("*bias", _torch_bias())])
    np.testing.assert_array_equal(again["dense"]["bias"], expected)


def test_deferred_sees_the_layer_index_in_the_path():
    spec = {"layers": [jax.ShapeDtypeStruct((256, 256), jnp.float32)] * 3}
    rule = jt.deferred(lambda path, lookup: ji.constant(int(path[-1]) + 1.0))
    params = jt.init(jax.random.key(0), spec, [("*", rule)])
    assert [float(w[0, 0]) for w in params["layers"]] == [1.0, 2.0, 3.0]


def test_deferred_rule_errors():
    spec = {"dense": {"bias": jax.ShapeDtypeStruct((4,), jnp.float32)}}
    with pytest.raises(ValueError, match=r"needs the leaf at path 'dense/kernel', which the tree"):
        jt.init(jax.random.key(0), spec, [("*", _torch_bias())])
    with pytest.raises(TypeError, match=r"deferred rule for the leaf at path 'dense/bias' must"):
        jt.init(jax.random.key(0), spec, [("*", jt.deferred(lambda path, lookup: 3))])
    with pytest.raises(TypeError, match=r"^tree.deferred: `build` must be callable, got 3"):
        jt.deferred(3)
    with pytest.raises(TypeError, match=r"^tree.sibling: `name` must be a leaf name"):
        jt.sibling("a/kernel", lambda s: ji.zeros)
    with pytest.raises(TypeError, match=r"^tree.sibling: `build` must be callable"):
        jt.sibling("kernel", None)
