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

from _subsets import builders  # noqa: E402

import jax_inits as ji  # noqa: E402
import jax_inits.flax as jflax  # noqa: E402
import jax_inits.tree as jt  # noqa: E402
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


@pytest.mark.parametrize("name", builders(sorted(ENTRIES)))
def test_every_initializer_as_nnx_kernel_init(name):
    entry = ENTRIES[name]
    if entry.conv:  # (3, 3, 64, 128): n = 73728, tol = 1.3%
        layer = nnx.Conv(64, 128, (3, 3), kernel_init=entry.example, rngs=nnx.Rngs(0))
    else:  # (256, 512): n = 131072, tol = 0.98%
        layer = nnx.Linear(256, 512, kernel_init=entry.example, rngs=nnx.Rngs(0))
    kernel = layer.kernel[...]
    _check_std(kernel, entry.example, kernel.shape)
    assert kernel.dtype == jnp.float32


@pytest.mark.parametrize("name", builders(sorted(ENTRIES)))
def test_every_initializer_as_linen_kernel_init(name):
    entry = ENTRIES[name]
    if entry.conv:
        module, x = nn.Conv(128, (3, 3), kernel_init=entry.example), jnp.ones((1, 8, 8, 64))
    else:
        module, x = nn.Dense(512, kernel_init=entry.example), jnp.ones((1, 256))
    kernel = module.init(KEY, x)["params"]["kernel"]
    _check_std(kernel, entry.example, kernel.shape)


@pytest.mark.parametrize("name", sorted(BIAS))
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
    with jax.set_mesh(mesh):
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
    with jax.set_mesh(_explicit_mesh()):
        layer = nnx.Linear(64, 128, kernel_init=kernel_init, rngs=nnx.Rngs(0))
    assert layer.kernel.get_value().sharding.spec == P(None, "model")


def test_nnx_linear_general_falls_back_to_flax_resharding():
    # Attention kernels are sampled on a flattened shape of another rank.
    kernel_init = jflax.nnx_with_partitioning(ji.glorot_uniform(), (None, "model", None))
    with jax.set_mesh(_auto_mesh()):
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
    with jax.set_mesh(mesh):
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
