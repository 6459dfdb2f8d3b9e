"""Flax linen and nnx: every initializer as kernel/bias/embedding init, and
jax_inits.flax's wrappers that sample a parameter straight into its sharding.

Statistics: each kernel's sample std is compared with the initializer's
``target_std``; for n values the relative standard error of a sample std is at
most 1/sqrt(2n) for the normal and lighter-tailed distributions used here, so
the tolerance is 5/sqrt(2n) (n and the seed, 0, are fixed per test).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

nnx = pytest.importorskip("flax.nnx")
nn = pytest.importorskip("flax.linen")

from _subsets import builders, rotated, share_of  # noqa: E402

import jax_inits as ji  # noqa: E402
import jax_inits.flax as jflax  # noqa: E402
import jax_inits.tree as jt  # noqa: E402
from jax_inits._src import _jax_compat as compat  # noqa: E402
from jax_inits._src import catalog, constant, distributions  # noqa: E402

# Real-valued layers: the complex-only initializers are for complex param dtypes.
ENTRIES = {e.name: e for e in catalog.ENTRIES if not e.complex}
# Builders whose initializers take 1-D shapes (no fans, no orthogonality): bias inits.
BIAS = [
    n
    for n, e in ENTRIES.items()
    if type(e.example).__module__ in (constant.__name__, distributions.__name__)
]
KEY = jax.random.key(0)


def _check_std(values, init, shape):
    values = np.asarray(values, np.float64)
    target = init.target_std(shape)
    if target == 0:
        np.testing.assert_array_equal(values, np.asarray(init(None, shape), np.float64))
        return
    tol = 5 / math.sqrt(2 * values.size)
    assert abs(values.std() / target - 1) < tol, (values.std(), target, tol)


# `make test`: the half of the builders of tests/_subsets.py that tests/test_haiku.py
# leaves, each in one of the two Flax APIs (rotating); `make test-slow`: every builder
# in both.
@pytest.mark.parametrize(
    "name,api", rotated(sorted(ENTRIES), ["nnx", "linen"], fast=share_of(sorted(ENTRIES), 1, 2))
)
def test_every_initializer_as_a_kernel_init(name, api):
    entry = ENTRIES[name]
    if api == "nnx":
        if entry.conv:  # (3, 3, 64, 128): n = 73728, tol = 1.3%
            layer = nnx.Conv(64, 128, (3, 3), kernel_init=entry.example, rngs=nnx.Rngs(0))
        else:  # (256, 512): n = 131072, tol = 0.98%
            layer = nnx.Linear(256, 512, kernel_init=entry.example, rngs=nnx.Rngs(0))
        kernel = layer.kernel[...]
    elif entry.conv:
        module, x = nn.Conv(128, (3, 3), kernel_init=entry.example), jnp.ones((1, 8, 8, 64))
        kernel = module.init(KEY, x)["params"]["kernel"]
    else:
        module, x = nn.Dense(512, kernel_init=entry.example), jnp.ones((1, 256))
        kernel = module.init(KEY, x)["params"]["kernel"]
    _check_std(kernel, entry.example, kernel.shape)
    assert kernel.dtype == jnp.float32


@pytest.mark.parametrize("name", builders(sorted(BIAS)))
def test_bias_init(name):
    init = ENTRIES[name].example  # n = 4096, tol = 5.5%
    layer = nnx.Linear(8, 4096, bias_init=init, rngs=nnx.Rngs(0))
    _check_std(layer.bias[...], init, (4096,))
    params = nn.Dense(4096, bias_init=init).init(KEY, jnp.ones((1, 8)))
    _check_std(params["params"]["bias"], init, (4096,))


def test_embed():
    # (1000, 64), n = 64000, tol = 1.4%; fan_in is the feature axis here.
    init = ji.variance_scaling(1.0, "fan_in", "normal", in_axis=1, out_axis=0)
    table = nnx.Embed(1000, 64, embedding_init=init, rngs=nnx.Rngs(0)).embedding[...]
    _check_std(table, init, (1000, 64))
    assert math.isclose(init.target_std((1000, 64)), 1 / 8)
    params = nn.Embed(1000, 64, embedding_init=ji.normal(1.0)).init(KEY, jnp.zeros(3, jnp.int32))
    _check_std(params["params"]["embedding"], ji.normal(1.0), (1000, 64))


def test_attention():
    # q/k/v/out kernels are initialised on the flattened (64, 64) shape, n = 4096
    # each, tol = 5.5%; glorot_uniform's std there is sqrt(2 / 128) = 0.125.
    init = ji.glorot_uniform()
    attention = nnx.MultiHeadAttention(
        num_heads=4,
        in_features=64,
        qkv_features=64,
        kernel_init=init,
        decode=False,
        rngs=nnx.Rngs(0),
    )
    for proj in ("query", "key", "value", "out"):
        _check_std(getattr(attention, proj).kernel[...], init, (64, 64))
    module = nn.MultiHeadDotProductAttention(num_heads=4, qkv_features=64, kernel_init=init)
    params = module.init(KEY, jnp.ones((1, 5, 64)))["params"]
    for proj in ("query", "key", "value", "out"):
        _check_std(params[proj]["kernel"], init, (64, 64))


# ----------------------------------------------------------------------------- sharding


def _explicit_mesh():
    return jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)


def _auto_mesh():
    return jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)


@pytest.mark.parametrize("mesh_fn", [_explicit_mesh, _auto_mesh], ids=["explicit", "auto"])
def test_nnx_param_sampled_into_its_sharding(mesh_fn):
    mesh = mesh_fn()
    init = ji.he_normal()
    kernel_init = jflax.nnx_with_partitioning(init, ("data", "model"))
    plain = nnx.Linear(64, 128, kernel_init=init, rngs=nnx.Rngs(0)).kernel[...]
    with compat.set_mesh(mesh):
        layer = nnx.Linear(64, 128, kernel_init=kernel_init, rngs=nnx.Rngs(0))
        # What the initializer hands to nnx is already sharded: no full-size value.
        boxed = kernel_init(jax.random.key(1), (64, 128), jnp.float32)
    expected = NamedSharding(mesh, P("data", "model"))
    assert boxed.raw_value.sharding.is_equivalent_to(expected, 2)
    kernel = layer.kernel.get_value()
    assert kernel.sharding.is_equivalent_to(expected, 2)
    np.testing.assert_array_equal(kernel, plain)
    assert nnx.get_partition_spec(nnx.state(layer))["kernel"].get_value() == P("data", "model")


def test_flax_own_wrapper_samples_unsharded_first():
    # The contrast: nnx.with_partitioning hands nnx the whole value on one device.
    boxed = nnx.with_partitioning(ji.he_normal(), ("data", "model"))(KEY, (64, 128))
    assert len(boxed.raw_value.sharding.device_set) == 1


def test_nnx_mesh_argument_logical_rules_and_jit():
    mesh = _auto_mesh()
    init = ji.lecun_normal()
    plain = nnx.Linear(64, 128, kernel_init=init, rngs=nnx.Rngs(0)).kernel[...]
    kernel_init = jflax.nnx_with_partitioning(
        init, (None, "hidden"), mesh, sharding_rules=(("hidden", "model"),)
    )
    layer = nnx.Linear(64, 128, kernel_init=kernel_init, rngs=nnx.Rngs(0))
    expected = NamedSharding(mesh, P(None, "model"))
    assert layer.kernel.get_value().sharding.is_equivalent_to(expected, 2)
    np.testing.assert_array_equal(layer.kernel.get_value(), plain)

    @nnx.jit
    def create():
        return nnx.Linear(64, 128, kernel_init=kernel_init, rngs=nnx.Rngs(0))

    jitted = create().kernel.get_value()
    assert jitted.sharding.is_equivalent_to(expected, 2)
    np.testing.assert_array_equal(jitted, plain)


def test_nnx_foreign_initializer_is_sharded_by_flax():
    init = jax.nn.initializers.he_normal()
    kernel_init = jflax.nnx_with_partitioning(init, (None, "model"))
    with compat.set_mesh(_explicit_mesh()):
        layer = nnx.Linear(64, 128, kernel_init=kernel_init, rngs=nnx.Rngs(0))
    assert layer.kernel.get_value().sharding.spec == P(None, "model")


def test_nnx_linear_general_falls_back_to_flax_resharding():
    # Attention kernels are sampled on a flattened shape of another rank.
    kernel_init = jflax.nnx_with_partitioning(ji.glorot_uniform(), (None, "model", None))
    with compat.set_mesh(_auto_mesh()):
        attention = nnx.MultiHeadAttention(
            num_heads=4,
            in_features=64,
            qkv_features=64,
            kernel_init=kernel_init,
            out_kernel_init=ji.glorot_uniform(),
            decode=False,
            rngs=nnx.Rngs(0),
        )
    assert attention.query.kernel.get_value().sharding.spec == P(None, "model", None)


def test_nnx_eager_sharding_off_without_mesh_samples_unsharded():
    kernel_init = jflax.nnx_with_partitioning(ji.he_normal(), (None, "model"))
    with nnx.use_eager_sharding(False):
        layer = nnx.Linear(8, 16, kernel_init=kernel_init, rngs=nnx.Rngs(0))
    assert layer.kernel.get_value().shape == (8, 16)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_linen_param_sampled_into_its_sharding(jit):
    mesh = _auto_mesh()
    init = ji.he_uniform()
    x = jnp.ones((2, 64))
    plain = nn.Dense(128, kernel_init=init).init(KEY, x)["params"]["kernel"]
    dense = nn.Dense(128, kernel_init=jflax.linen_with_partitioning(init, ("data", "model"), mesh))
    boxed = (jax.jit(dense.init) if jit else dense.init)(KEY, x)["params"]["kernel"]
    assert isinstance(boxed, nn.Partitioned) and boxed.names == ("data", "model")
    expected = NamedSharding(mesh, P("data", "model"))
    assert boxed.value.sharding.is_equivalent_to(expected, 2)
    np.testing.assert_array_equal(boxed.value, plain)
    shardings = nn.get_sharding(jax.eval_shape(dense.init, KEY, x), mesh)
    assert shardings["params"]["kernel"].spec == P("data", "model")


def test_linen_without_mesh_is_unsharded():
    dense = nn.Dense(16, kernel_init=jflax.linen_with_partitioning(ji.he_normal(), (None, "m")))
    boxed = dense.init(KEY, jnp.ones((1, 8)))["params"]["kernel"]
    assert len(boxed.value.sharding.device_set) == 1


def test_errors():
    with pytest.raises(
        ValueError,
        match=r"nnx_with_partitioning: the parameter of shape \(8, 16\) is sharded as "
        r"\(None, 'model'\) but there is no mesh; pass `mesh=`",
    ):
        nnx.Linear(
            8,
            16,
            kernel_init=jflax.nnx_with_partitioning(ji.he_normal(), (None, "model")),
            rngs=nnx.Rngs(0),
        )
    with pytest.raises(
        TypeError,
        match=r"nnx_with_partitioning: `sharding` must be a tuple of mesh axis names "
        r"\(str or None\), a PartitionSpec or a NamedSharding, got 'model'\.",
    ):
        jflax.nnx_with_partitioning(ji.he_normal(), "model")
    with pytest.raises(
        TypeError, match=r"nnx_with_partitioning: `init` must be an initializer, got 3\."
    ):
        jflax.nnx_with_partitioning(3, (None,))
    with pytest.raises(
        TypeError, match=r"linen_with_partitioning: `init` must be an initializer, got 'x'\."
    ):
        jflax.linen_with_partitioning("x", (None,))
    with pytest.raises(
        TypeError,
        match=r"linen_with_partitioning: `names` must be a tuple of mesh axis names "
        r"\(str or None\), got P\(None, 'model'\)\.",
    ):
        jflax.linen_with_partitioning(ji.he_normal(), P(None, "model"))


# ----------------------------------------------------------------------------- jax_inits.tree


class _MLP(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(8, 16, rngs=rngs), nnx.Linear(16, 4, rngs=rngs)])

    def __call__(self, x):
        return self.layers[1](jax.nn.relu(self.layers[0](x)))


def test_tree_paths_of_an_nnx_state_name_the_variables():
    _, state = nnx.split(_MLP(nnx.Rngs(0)))
    assert jt.leaf_paths(state) == [
        "layers/0/bias",
        "layers/0/kernel",
        "layers/1/bias",
        "layers/1/kernel",
    ]


def test_tree_reinit_of_an_nnx_state():
    model = _MLP(nnx.Rngs(0))
    _, state = nnx.split(model, nnx.Param)
    bias = model.layers[0].bias[...]
    new = jt.reinit(state, KEY, [("*/kernel", ji.orthogonal()), ("*/bias", None)])
    nnx.update(model, new)
    expected = ji.orthogonal()(jt.leaf_key(KEY, "layers/1/kernel"), (16, 4))
    np.testing.assert_array_equal(model.layers[1].kernel[...], expected)
    np.testing.assert_array_equal(model.layers[0].bias[...], bias)


def test_tree_init_of_an_abstract_nnx_model_sharded():
    # The model is never materialised unsharded: eval_shape, then one jitted init
    # straight into the shardings of the (abstract) parameters.
    mesh = _auto_mesh()
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: _MLP(nnx.Rngs(0))))
    shardings = jax.tree.map(lambda _: NamedSharding(mesh, P()), abstract)
    kernel = NamedSharding(mesh, P(None, "model"))
    shardings["layers"][0]["kernel"] = nnx.Param(kernel)
    state = jt.init(
        KEY, abstract, [("*/kernel", ji.he_normal()), ("*", ji.zeros)], out_shardings=shardings
    )
    model = nnx.merge(graphdef, state)
    assert model.layers[0].kernel[...].sharding.is_equivalent_to(kernel, 2)
    expected = ji.he_normal()(jt.leaf_key(KEY, "layers/0/kernel"), (8, 16))
    np.testing.assert_array_equal(model.layers[0].kernel[...], expected)
    assert model(jnp.ones((2, 8))).shape == (2, 4)


@pytest.mark.parametrize("name", jflax.__all__)
def test_public_functions_have_doctests(name):
    assert ">>>" in getattr(jflax, name).__doc__


# ----------------------------------------------------------------------------- create


class _Mlp(nnx.Module):
    def __init__(self, n_layers, rngs):
        kernel = nnx.with_partitioning(nnx.initializers.lecun_normal(), (None, "model"))
        self.layers = nnx.List(
            [nnx.Linear(16, 16, kernel_init=kernel, rngs=rngs) for _ in range(n_layers)]
        )
        self.head = nnx.Linear(16, 4, rngs=rngs)


CREATE_RULES = [("*kernel", ji.he_normal()), ("*bias", ji.zeros)]


def test_create_with_rules_is_tree_init_into_the_annotated_shardings():
    mesh = _auto_mesh()
    model = jflax.create(lambda rngs: _Mlp(3, rngs), KEY, CREATE_RULES, mesh=mesh)
    want = NamedSharding(mesh, P(None, "model"))
    for i in range(3):
        kernel = model.layers[i].kernel.get_value()
        assert kernel.sharding.is_equivalent_to(want, 2)
        expected = ji.he_normal()(jt.leaf_key(KEY, f"layers/{i}/kernel"), (16, 16))
        np.testing.assert_array_equal(kernel, expected)
    np.testing.assert_array_equal(model.head.bias.get_value(), np.zeros(4, np.float32))
    assert isinstance(model.head.kernel, nnx.Param)
    out = model.head(model.layers[0](jnp.ones((2, 16))))  # a live model
    assert out.shape == (2, 4)


def test_create_without_rules_uses_the_models_initializers():
    mesh = _auto_mesh()
    model = jflax.create(lambda rngs: _Mlp(2, rngs), KEY, mesh=mesh)
    with compat.set_mesh(mesh):
        reference = jax.jit(lambda k: nnx.state(_Mlp(2, nnx.Rngs(k))))(KEY)
    kernel = model.layers[1].kernel.get_value()
    assert kernel.sharding.is_equivalent_to(NamedSharding(mesh, P(None, "model")), 2)
    np.testing.assert_array_equal(kernel, reference["layers"][1]["kernel"].get_value())
    np.testing.assert_array_equal(
        model.head.kernel.get_value(), reference["head"]["kernel"].get_value()
    )


def test_create_needs_a_callable():
    with pytest.raises(TypeError, match=r"flax\.create: `make` must be callable, got 3\."):
        jflax.create(3, KEY)


class _LinenMlp(nn.Module):
    n_layers: int

    @nn.compact
    def __call__(self, x):
        kernel = nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model"))
        for _ in range(self.n_layers):
            x = nn.Dense(16, kernel_init=kernel)(x)
        return nn.Dense(4)(x)


X16 = jnp.ones((2, 16))


def test_create_linen_with_rules_is_tree_init_into_the_annotated_shardings():
    mesh = _auto_mesh()
    module = _LinenMlp(3)
    variables = jflax.create_linen(module, KEY, X16, rules=CREATE_RULES, mesh=mesh)
    # The structure module.init gives: the annotated kernels stay boxed (nn.Partitioned).
    boxed = variables["params"]["Dense_0"]["kernel"]
    assert isinstance(boxed, nn.Partitioned) and boxed.names == (None, "model")
    params = nn.unbox(variables)["params"]
    want = NamedSharding(mesh, P(None, "model"))
    for i in range(3):
        kernel = params[f"Dense_{i}"]["kernel"]
        assert kernel.sharding.is_equivalent_to(want, 2)
        expected = ji.he_normal()(jt.leaf_key(KEY, f"params/Dense_{i}/kernel"), (16, 16))
        np.testing.assert_array_equal(kernel, expected)
    np.testing.assert_array_equal(params["Dense_3"]["bias"], np.zeros(4, np.float32))
    assert module.apply(variables, X16).shape == (2, 4)


def test_create_linen_without_rules_is_the_modules_own_init():
    mesh = _auto_mesh()
    module = _LinenMlp(2)
    variables = jflax.create_linen(module, KEY, X16, mesh=mesh)
    reference = nn.unbox(jax.jit(module.init)(KEY, X16))["params"]
    params = nn.unbox(variables)["params"]
    kernel = params["Dense_1"]["kernel"]
    assert kernel.sharding.is_equivalent_to(NamedSharding(mesh, P(None, "model")), 2)
    for name in ("Dense_0", "Dense_1", "Dense_2"):
        for leaf in ("kernel", "bias"):
            np.testing.assert_array_equal(params[name][leaf], reference[name][leaf])


def test_create_linen_without_a_mesh_and_with_keyword_inputs():
    module = _LinenMlp(1)
    variables = jflax.create_linen(module, KEY, x=X16, rules=CREATE_RULES)
    kernel = nn.unbox(variables)["params"]["Dense_0"]["kernel"]
    np.testing.assert_array_equal(
        kernel, ji.he_normal()(jt.leaf_key(KEY, "params/Dense_0/kernel"), (16, 16))
    )


def test_create_linen_needs_a_linen_module():
    with pytest.raises(TypeError, match=r"flax\.create_linen: `module` must be a flax\.linen"):
        jflax.create_linen(lambda x: x, KEY, X16)


# ----------------------------------------------------------------------------- abstract build

_PART = nnx.with_partitioning


class _Zoo(nnx.Module):
    """One of each: sharded Linear, BatchNorm, Dropout, attention, LinearGeneral, own Rngs."""

    def __init__(self, rngs):
        lecun = nnx.initializers.lecun_normal()
        self.dense = nnx.Linear(8, 16, kernel_init=_PART(lecun, (None, "model")), rngs=rngs)
        self.bn = nnx.BatchNorm(16, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(
            num_heads=2, in_features=16, qkv_features=16, decode=False, rngs=rngs
        )
        self.general = nnx.LinearGeneral(
            16, (2, 4), kernel_init=_PART(lecun, (None, None, "model")), rngs=rngs
        )
        self.rngs = rngs  # the model holds its own nnx.Rngs


ZOO_RULES = [("*kernel", ji.he_normal()), ("*", ji.zeros)]


def _assert_same_abstract(graphdef, state, reference):
    ref_graphdef, ref_state = nnx.split(reference)
    assert graphdef == ref_graphdef
    got, want = nnx.to_flat_state(state), nnx.to_flat_state(ref_state)
    assert [p for p, _ in got] == [p for p, _ in want]
    for (path, a), (_, b) in zip(got, want, strict=True):
        assert type(a) is type(b), path
        assert a.get_metadata() == b.get_metadata(), path
        x, y = a.get_value(), b.get_value()
        assert isinstance(x, jax.ShapeDtypeStruct), path
        assert (x.shape, x.dtype, x.sharding) == (y.shape, y.dtype, y.sharding), path


def test_abstract_build_is_nnx_eval_shape():
    from jax_inits._src import abstract

    mesh = _auto_mesh()
    with compat.set_mesh(mesh):
        reference = nnx.eval_shape(lambda: _Zoo(nnx.Rngs(0)))
    built = abstract.nnx_model(_Zoo, mesh)
    _assert_same_abstract(built.graphdef, built.state, reference)
    kernel = nnx.state(nnx.merge(built.graphdef, built.state)).general.kernel.get_value()
    assert kernel.sharding.spec == P(None, None, "model")
    assert nnx.get_named_sharding(built.state, mesh) == nnx.get_named_sharding(
        nnx.state(reference), mesh
    )
    assert abstract.nnx_model(_Zoo, mesh) is built  # cached per (make, mesh)


class _Stateful(nnx.Module):
    """Parameters and other state: Dropout's RNG stream, BatchNorm's statistics, own Rngs."""

    def __init__(self, rngs):
        self.dense = nnx.Linear(4, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.rngs = rngs  # the model holds its own nnx.Rngs


def _assert_other_state_is_the_models_own(model, eager):
    """Every non-Param variable equal to the eagerly built model's, and the same dropout masks."""
    rest = nnx.to_flat_state(nnx.state(model, nnx.Not(nnx.Param)))
    want = nnx.to_flat_state(nnx.state(eager, nnx.Not(nnx.Param)))
    assert [p for p, _ in rest] == [p for p, _ in want]
    assert ("drop", "rngs", "count") in dict(rest) and ("bn", "var") in dict(rest)
    for (path, a), (_, b) in zip(rest, want, strict=True):
        assert type(a) is type(b), path
        x, y = a.get_value(), b.get_value()
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(x, y, err_msg=str(path))
    x = jnp.ones((4, 8))
    for _ in range(2):  # the same masks, call after call
        np.testing.assert_array_equal(
            model.drop(x, deterministic=False), eager.drop(x, deterministic=False)
        )


def test_create_draws_params_and_keeps_the_models_own_other_state():
    # Rules see only nnx.Param leaves: the issue's `("*", zeros)` last is fine now (it
    # used to meet the RNG key) and BatchNorm's var stays one.
    model = jflax.create(_Stateful, KEY, [("*kernel", ji.he_normal()), ("*", ji.zeros)])
    _assert_other_state_is_the_models_own(model, _Stateful(nnx.Rngs(KEY)))
    np.testing.assert_array_equal(
        model.dense.kernel.get_value(), ji.he_normal()(jt.leaf_key(KEY, "dense/kernel"), (4, 8))
    )
    np.testing.assert_array_equal(model.bn.scale.get_value(), np.zeros(8, np.float32))


@pytest.mark.slow
def test_create_keeps_the_models_own_other_state_on_a_mesh():
    mesh = _auto_mesh()
    model = jflax.create(_Zoo, KEY, ZOO_RULES, mesh=mesh)
    with compat.set_mesh(mesh):
        _assert_other_state_is_the_models_own(model, _Zoo(nnx.Rngs(KEY)))
    kernel = model.general.kernel.get_value()
    assert kernel.sharding.is_equivalent_to(NamedSharding(mesh, P(None, None, "model")), 3)
    np.testing.assert_array_equal(
        kernel, ji.he_normal()(jt.leaf_key(KEY, "general/kernel"), (16, 2, 4))
    )


def test_create_caches_the_abstract_model():
    calls = []

    def make(rngs):
        calls.append(1)
        return _Mlp(2, rngs)

    mesh = _auto_mesh()
    first = jflax.create(make, KEY, CREATE_RULES, mesh=mesh)
    second = jflax.create(make, jax.random.key(1), CREATE_RULES, mesh=mesh)
    assert len(calls) == 1  # params only: no own-state call either
    assert not np.array_equal(first.head.kernel.get_value(), second.head.kernel.get_value())
    ji.clear_caches()
    jflax.create(make, KEY, CREATE_RULES, mesh=mesh)
    assert len(calls) == 2


class _Counted(nnx.Module):
    builds: list = []  # noqa: RUF012 - the test's record of abstract builds

    def __init__(self, width, rngs):
        _Counted.builds.append(width)
        self.dense = nnx.Linear(4, width, rngs=rngs)


def test_create_reuses_the_build_of_an_equal_make():
    # An inline lambda is a new object on every call; it is keyed by its code, its
    # closure and defaults, and the globals it reads (here the class), so the second
    # round only draws. Different widths are different keys, and a closure over
    # something mutable is never shared.
    import functools

    _Counted.builds.clear()
    rules = [("*", ji.zeros)]
    for _ in range(2):
        for width in (3, 5):
            model = jflax.create(lambda rngs, w=width: _Counted(w, rngs), KEY, rules)
            assert model.dense.kernel.get_value().shape == (4, width)
    assert _Counted.builds == [3, 5]
    for _ in range(2):
        jflax.create(functools.partial(_Counted, 7), KEY, rules)
    assert _Counted.builds == [3, 5, 7]
    box = [9]
    for _ in range(2):
        jflax.create(lambda rngs: _Counted(box[0], rngs), KEY, rules)
    assert _Counted.builds == [3, 5, 7, 9, 9]


def test_value_key_of_make_arguments():
    import dataclasses

    from jax_inits._src.abstract import _value_key

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        width: int

    @dataclasses.dataclass
    class Mutable:
        width: int

    assert _value_key(Frozen(3)) == _value_key(Frozen(3)) != _value_key(Frozen(4))
    assert _value_key(Mutable(3)) is None and _value_key([3]) is None
    assert _value_key((1, "a", jnp.float32)) == _value_key((1, "a", jnp.float32))

    def make(width):  # one lambda expression, evaluated twice
        return lambda r: _Counted(width, r)

    assert _value_key(make(3)) == _value_key(make(3)) != _value_key(make(4))


def test_abstract_builds_pause_the_garbage_collector_and_restore_it():
    # The abstract build allocates objects that all stay alive; collecting while it
    # runs only walks them (see jax_inits._src.abstract). The collector is off inside
    # make, back on after, and left off when the caller had turned it off.
    import gc

    seen = []

    def make(rngs):
        seen.append(gc.isenabled())
        return nnx.Linear(4, 3, rngs=rngs)

    assert gc.isenabled()
    jflax.create(make, KEY, [("*", ji.zeros)])
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        jflax.create(lambda rngs: make(rngs), KEY, [("*", ji.zeros)])
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


def test_create_filter_selects_what_rules_draw():
    stats = nnx.Any(nnx.BatchStat, nnx.PathContains("kernel"))
    model = jflax.create(_Stateful, KEY, [("*", ji.ones)], filter=stats)
    np.testing.assert_array_equal(model.bn.mean.get_value(), np.ones(8, np.float32))
    np.testing.assert_array_equal(model.dense.kernel.get_value(), np.ones((4, 8), np.float32))
    eager = _Stateful(nnx.Rngs(KEY))  # every other variable as the model's own init gives it
    np.testing.assert_array_equal(model.bn.scale.get_value(), eager.bn.scale.get_value())
    np.testing.assert_array_equal(
        jax.random.key_data(model.rngs.default.key.get_value()),
        jax.random.key_data(eager.rngs.default.key.get_value()),
    )


def test_create_errors():
    with pytest.raises(ValueError, match=r"flax\.create: `known` and `report` need `rules`"):
        jflax.create(_Stateful, KEY, known={})
    with pytest.raises(TypeError, match=r"flax\.create: `filter` must be an nnx filter .*got 3"):
        jflax.create(_Stateful, KEY, ZOO_RULES, filter=3)


# ----------------------------------------------------------------------------- restore, re-init


def test_create_with_known_draws_only_what_is_missing():
    mesh = _auto_mesh()
    checkpoint = nnx.state(jflax.create(lambda r: _Mlp(2, r), KEY, CREATE_RULES, mesh=mesh))
    known = {"layers": checkpoint["layers"]}  # the checkpoint lacks the head
    other = jax.random.key(7)
    model, drawn = jflax.create(
        lambda r: _Mlp(2, r),
        other,
        CREATE_RULES,
        mesh=mesh,
        known=known,
        force=["layers/1/*"],
        report=True,
    )
    assert drawn == ["head/bias", "head/kernel", "layers/1/bias", "layers/1/kernel"]
    np.testing.assert_array_equal(
        model.layers[0].kernel.get_value(), checkpoint["layers"][0]["kernel"].get_value()
    )
    for path, shape in (("head/kernel", (16, 4)), ("layers/1/kernel", (16, 16))):
        want = ji.he_normal()(jt.leaf_key(other, path), shape)
        got = model.head.kernel if path == "head/kernel" else model.layers[1].kernel
        np.testing.assert_array_equal(got.get_value(), want)


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_reinit_nnx_in_place_keeps_shardings_and_everything_else():
    mesh = _auto_mesh()
    model = jflax.create(lambda r: _Mlp(3, r), KEY, CREATE_RULES, mesh=mesh)
    before = {p: np.asarray(v.get_value()) for p, v in nnx.to_flat_state(nnx.state(model))}
    other = jax.random.key(5)
    assert jflax.reinit(model, other, [("*", ji.normal())], only=["layers/1/kernel"]) is None
    kernel = model.layers[1].kernel.get_value()
    assert kernel.sharding.is_equivalent_to(NamedSharding(mesh, P(None, "model")), 2)
    np.testing.assert_array_equal(
        kernel, ji.normal()(jt.leaf_key(other, "layers/1/kernel"), (16, 16))
    )
    for path, value in nnx.to_flat_state(nnx.state(model)):
        if path != ("layers", 1, "kernel"):
            np.testing.assert_array_equal(np.asarray(value.get_value()), before[path])


def test_reinit_linen_returns_new_variables():
    module = _LinenMlp(2)
    variables = jflax.create_linen(module, KEY, X16, rules=CREATE_RULES)
    before = _arrays(variables)
    new = jflax.reinit(variables, jax.random.key(3), [("*", ji.zeros)], only=["params/Dense_2/*"])
    assert isinstance(new["params"]["Dense_0"]["kernel"], nn.Partitioned)
    np.testing.assert_array_equal(nn.unbox(new)["params"]["Dense_2"]["kernel"], np.zeros((16, 4)))
    np.testing.assert_array_equal(
        nn.unbox(new)["params"]["Dense_1"]["kernel"],
        nn.unbox(variables)["params"]["Dense_1"]["kernel"],
    )
    for a, b in zip(_arrays(variables), before, strict=True):  # the input is untouched
        np.testing.assert_array_equal(a, b)


def test_reinit_errors():
    model = _MLP(nnx.Rngs(0))
    with pytest.raises(
        ValueError, match=r"flax\.reinit: `only` \('nope\*'\) matches no array leaf"
    ):
        jflax.reinit(model, KEY, [("*", ji.zeros)], only=["nope*"])
    with pytest.raises(
        TypeError, match=r"flax\.reinit: `only` must be a sequence of patterns, got 'head'"
    ):
        jflax.reinit(model, KEY, [("*", ji.zeros)], only="head")
    with pytest.raises(TypeError, match=r"flax\.reinit: `model` must be an nnx\.Module or linen"):
        jflax.reinit(3, KEY, [("*", ji.zeros)], only=["*"])


class _LinenBn(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.BatchNorm(use_running_average=False)(nn.Dense(8)(x))


def test_create_linen_keeps_the_modules_own_batch_stats():
    module = _LinenBn()
    variables = jflax.create_linen(
        module, KEY, X16, rules=[("*kernel", ji.he_normal()), ("*", ji.zeros)]
    )
    reference = module.init(KEY, X16)
    np.testing.assert_array_equal(variables["batch_stats"]["BatchNorm_0"]["var"], np.ones(8))
    for a, b in zip(
        _arrays(variables["batch_stats"]), _arrays(reference["batch_stats"]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        variables["params"]["Dense_0"]["kernel"],
        ji.he_normal()(jt.leaf_key(KEY, "params/Dense_0/kernel"), (16, 8)),
    )


# ----------------------------------------------------------------------------- scanned layers

D_SCAN, L_SCAN = 64, 4


class _Block(nnx.Module):
    def __init__(self, rngs):
        self.attention = nnx.Module()
        self.attention.wq = nnx.Linear(D_SCAN, D_SCAN, use_bias=False, rngs=rngs)
        self.attention.wo = nnx.Linear(D_SCAN, D_SCAN, use_bias=False, rngs=rngs)
        self.norm = nnx.RMSNorm(D_SCAN, rngs=rngs)


class _Unscanned(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([_Block(rngs) for _ in range(L_SCAN)])


class _Scanned(nnx.Module):
    def __init__(self, rngs):
        @nnx.split_rngs(splits=L_SCAN)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def blocks(rngs):
            return _Block(rngs)

        self.layers = blocks(rngs)


def test_scanned_layers_are_per_layer_draws_of_the_unscanned_rules():
    # torchtitan's depth_init: wo of block l has std 0.02 / sqrt(2 (l + 1)), wq 0.02.
    # Each slice has n = 64 * 64 = 4096 values; the relative standard error of a
    # sample std is 1 / sqrt(2 n) = 1.1%, so the tolerance is 5 of them, 5.5% (seed 0).
    import jax_inits.presets

    rules = jax_inits.presets.torchtitan_llama()
    scanned = jflax.create(_Scanned, KEY, jt.scanned(rules, "layers"))
    unscanned = jflax.create(_Unscanned, KEY, rules)
    tol = 5 / math.sqrt(2 * D_SCAN * D_SCAN)
    for layer in range(L_SCAN):
        for name, std in (("wq", 0.02), ("wo", 0.02 / math.sqrt(2 * (layer + 1)))):
            stacked = getattr(scanned.layers.attention, name).kernel.get_value()[layer]
            plain = getattr(unscanned.layers[layer].attention, name).kernel.get_value()
            for values in (stacked, plain):
                assert abs(float(np.std(values)) / std - 1) < tol, (name, layer)
    # The formula: slice l is layer l's rule, drawn from split(leaf_key, L)[l].
    kernel = scanned.layers.attention.wo.kernel.get_value()
    keys = jax.random.split(jt.leaf_key(KEY, "layers/attention/wo/kernel"), L_SCAN)
    want = ji.pytorch.trunc_normal(std=0.02 / math.sqrt(2 * 4))(keys[3], (D_SCAN, D_SCAN))
    np.testing.assert_array_equal(kernel[3], want)
    np.testing.assert_array_equal(scanned.layers.norm.scale.get_value(), np.ones((L_SCAN, D_SCAN)))


def test_scanned_plain_initializer_counts_no_layer_axis_in_its_fans():
    # he_normal on (L, 64, 64) without `scanned` has std sqrt(2 / (L * 64)); with it,
    # each layer's sqrt(2 / 64). n = 4 * 4096 = 16384 values: tolerance 5 / sqrt(2 n) = 2.8%.
    rules = jt.scanned([("*kernel", ji.he_normal()), ("*", ji.ones)], "layers")
    kernel = jflax.create(_Scanned, KEY, rules).layers.attention.wq.kernel.get_value()
    tol = 5 / math.sqrt(2 * kernel.size)
    assert abs(float(np.std(kernel)) / math.sqrt(2 / D_SCAN) - 1) < tol


def test_scanned_errors():
    with pytest.raises(TypeError, match=r"tree\.scanned: `prefix` must be a non-empty path"):
        jt.scanned([("*", ji.zeros)], "")
    spec = {"layers": {"w": jax.ShapeDtypeStruct((), jnp.float32)}}
    with pytest.raises(ValueError, match=r"tree\.scanned: the leaf at path 'layers/w' .* scalar"):
        jt.init(KEY, spec, jt.scanned([("*", ji.zeros)], "layers"))


@pytest.mark.slow
@pytest.mark.parametrize("depth", [2, 16])
def test_abstract_build_is_nnx_eval_shape_at_depth(depth, monkeypatch):
    from jax._src.interpreters import partial_eval as pe

    from jax_inits._src import _jax_compat, abstract

    class Deep(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([_Stateful(rngs) for _ in range(depth)])
            self.zoo = _Zoo(rngs)

    mesh = _auto_mesh()
    with compat.set_mesh(mesh):
        reference = nnx.eval_shape(lambda: Deep(nnx.Rngs(0)))
    walks = []
    original = pe.JaxprStackFrame.find_progenitors
    monkeypatch.setattr(
        pe.JaxprStackFrame,
        "find_progenitors",
        lambda self, t: walks.append(1) or original(self, t),
    )
    built = abstract.nnx_model(Deep, mesh)
    if _jax_compat.QUADRATIC_ORIGIN_MSG:
        assert walks == []  # no trace walk: linear in the number of variables
    _assert_same_abstract(built.graphdef, built.state, reference)


# --- issue 30.1: a make that reads an attribute of a mutable global ---------------------


class _Hp:  # a mutable namespace, as a config module or class is
    width = 3


def test_create_rebuilds_when_an_attribute_make_reads_changes():
    import types

    hp_module = types.ModuleType("hp")
    hp_module.width = 3  # type: ignore[attr-defined]
    rules = [("*", ji.zeros)]
    for hp in (hp_module, _Hp):
        hp.width = 3
        for width in (3, 4, 3):
            hp.width = width
            model = jflax.create(lambda rngs: nnx.Linear(2, hp.width, rngs=rngs), KEY, rules)  # noqa: B023
            assert model.kernel.get_value().shape == (2, width)
    _Counted.builds.clear()
    for _ in range(2):  # still shared while the attribute is unchanged
        jflax.create(lambda rngs: _Counted(_Hp.width, rngs), KEY, rules)
    assert _Counted.builds == [3]


class _WithStats(nnx.Module):
    def __init__(self, rngs):
        self.fc = nnx.Linear(2, 3, rngs=rngs)
        self.bn = nnx.BatchNorm(3, rngs=rngs)


def test_create_known_with_other_variables_names_filter():
    # issue 30.10: nnx.state(model) holds BatchNorm statistics, not only parameters
    model = _WithStats(nnx.Rngs(0))
    with pytest.raises(
        ValueError,
        match=r"^flax.create: the known leaf at path 'bn/mean' is an nnx.BatchStat variable, "
        r"not one `filter` selects \(nnx.Param by default\).*nnx.state\(model, nnx.Param\).*"
        r"`filter=`",
    ):
        jflax.create(_WithStats, KEY, [("*", ji.zeros)], known=nnx.state(model))


def test_create_checks_what_make_is_and_returns():
    # issue 30.12
    rules = [("*", ji.zeros)]
    built = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    with pytest.raises(
        TypeError,
        match=r"^flax.create: `make` must build the model, make\(rngs\) -> nnx.Module, got the "
        r"built module Linear.*lambda rngs: ",
    ):
        jflax.create(built, KEY, rules)
    with pytest.raises(
        TypeError, match=r"^flax.create: `make` must return an nnx.Module, got None"
    ):
        jflax.create(lambda rngs: None, KEY, rules)
    with pytest.raises(TypeError, match=r"^flax.create: `make` must return an nnx.Module, got "
                       r"\{'w': ShapeDtypeStruct"):  # fmt: skip
        jflax.create(lambda rngs: {"w": jnp.zeros(2)}, KEY, rules)


def test_value_key_of_a_class_reads_its_attributes():
    from jax_inits._src.abstract import _value_key

    class Config:
        width = 3

        @classmethod
        def build(cls, width, rngs):
            return _Counted(width, rngs)

    make = lambda rngs: Config.build(Config.width, rngs)  # noqa: E731
    first = _value_key(make)
    assert first is not None and _value_key(make) == first
    Config.width = 4
    assert _value_key(make) != first
