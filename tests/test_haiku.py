"""jax_inits.haiku: to_haiku inside hk.transform, from_haiku outside it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

hk = pytest.importorskip("haiku")

from _subsets import shared  # noqa: E402

import jax_inits as ji  # noqa: E402
import jax_inits.haiku as jhk  # noqa: E402
import jax_inits.tree as jt  # noqa: E402
from jax_inits._src import catalog  # noqa: E402

# Real-valued layers: the complex-only initializers are for complex param dtypes.
ENTRIES = {e.name: e for e in catalog.ENTRIES if not e.complex}
KEY = jax.random.key(0)


def _first_rng_key(key):
    """The key the first hk.next_rng_key() of a transform with rng ``key`` returns."""
    return hk.transform(lambda: hk.next_rng_key()).apply(None, key)


# `make test`: half the builders of tests/_subsets.py here, the other half as Flax
# kernel inits (tests/test_flax.py); `make test-slow`: every builder in both.
@pytest.mark.parametrize("name", shared(sorted(ENTRIES), 0, 2))
def test_every_initializer_as_w_init(name):
    entry = ENTRIES[name]
    w_init = jhk.to_haiku(entry.example)

    def forward(x):
        if entry.conv:
            return hk.Conv2D(16, 3, w_init=w_init)(x)
        return hk.Linear(16, w_init=w_init)(x)

    x = jnp.ones((1, 5, 5, 8)) if entry.conv else jnp.ones((1, 8))
    params = hk.transform(forward).init(KEY, x)
    w = params["conv2_d" if entry.conv else "linear"]["w"]
    shape = entry.shape((8, 16))
    assert w.shape == shape
    # b_init defaults to zeros, which draws no key, so w draws the first key.
    key = _first_rng_key(KEY) if entry.example.random else None
    np.testing.assert_array_equal(w, entry.example(key, shape))


def test_b_init_and_constants_need_no_rng():
    def forward(x):
        return hk.Linear(4, w_init=jhk.to_haiku(ji.ones), b_init=jhk.to_haiku(ji.constant(0.5)))(x)

    params = hk.transform(forward).init(None, jnp.ones((1, 3)))
    assert float(params["linear"]["b"].sum()) == 2.0


def test_jax_nn_initializer_in_haiku():
    def forward(x):
        return hk.Linear(64, w_init=jhk.to_haiku(jax.nn.initializers.glorot_normal()))(x)

    w = hk.transform(forward).init(KEY, jnp.ones((1, 32)))["linear"]["w"]
    expected = jax.jit(jax.nn.initializers.glorot_normal(), static_argnums=(1,))(
        _first_rng_key(KEY), (32, 64)
    )
    np.testing.assert_array_equal(w, expected)


def test_statistics_in_a_haiku_mlp():
    # he_normal kernels of 256 x 256: n = 65536, std target sqrt(2/256);
    # tolerance 5/sqrt(2n) = 1.4% relative (seed 0).
    def forward(x):
        init = jhk.to_haiku(ji.he_normal())
        return hk.nets.MLP([256, 256], w_init=init)(x)

    params = hk.transform(forward).init(KEY, jnp.ones((1, 256)))
    ws = [params[f"mlp/~/linear_{i}"]["w"] for i in range(2)]
    for w in ws:
        assert abs(float(w.std()) / (2 / 256) ** 0.5 - 1) < 5 / (2 * w.size) ** 0.5
    assert not np.array_equal(ws[0], ws[1])


def test_from_haiku_equals_running_in_transform():
    hk_init = hk.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal")
    init = jhk.from_haiku(hk_init)
    assert isinstance(init, ji.Initializer)
    w = init(KEY, (64, 32))
    expected = hk.transform(lambda: hk_init((64, 32), jnp.float32)).apply(None, KEY)
    np.testing.assert_array_equal(w, expected)
    assert w.dtype == jnp.float32 and init(KEY, (4,), jnp.bfloat16).dtype == jnp.bfloat16


def test_from_haiku_in_tree_init_and_sharded():
    mesh = jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, P("x", "y"))
    init = jhk.from_haiku(hk.initializers.RandomNormal(0.5))
    plain = init(KEY, (16, 24))
    sharded = init(KEY, (16, 24), out_sharding=sharding)
    assert sharded.sharding.is_equivalent_to(sharding, 2)
    np.testing.assert_array_equal(sharded, plain)
    params = jt.init(KEY, {"w": jax.ShapeDtypeStruct((16, 24), jnp.float32)}, [("w", init)])
    np.testing.assert_array_equal(params["w"], init(jt.leaf_key(KEY, "w"), (16, 24)))


def test_errors():
    with pytest.raises(TypeError, match=r"to_haiku: `init` must be an initializer, got 1\.0\."):
        jhk.to_haiku(1.0)
    with pytest.raises(
        TypeError, match=r"from_haiku: `hk_init` must be a Haiku initializer, got 'normal'\."
    ):
        jhk.from_haiku("normal")
    init = jhk.from_haiku(hk.initializers.RandomNormal())
    with pytest.raises(TypeError, match=r"from_haiku: `key` must be a PRNG key"):
        init(0, (2, 2))
    with pytest.raises(TypeError, match=r"from_haiku: `shape` must be a sequence"):
        init(KEY, "2x2")
    with pytest.raises(TypeError, match=r"from_haiku: `dtype` must be a numeric dtype"):
        init(KEY, (2,), "U4")


def test_initializer_without_to_haiku_says_to_wrap_it():
    """Haiku calls ``w_init(shape, dtype)``: without to_haiku the shape lands in the
    key's place and the dtype in the shape's."""

    def forward(x):
        return hk.Linear(4, w_init=ji.he_normal())(x)

    with pytest.raises(
        TypeError,
        match=r"^he_normal: `shape` must be a sequence of non-negative integers, got the dtype "
        r"float32; the call looks like `init\(shape, dtype\)`, without a key\. .* to use one "
        r"as a Haiku `w_init`/`b_init`, wrap it: `jax_inits\.haiku\.to_haiku\(init\)`\.",
    ):
        hk.transform(forward).init(KEY, jnp.ones((1, 8)))
    with pytest.raises(
        TypeError, match=r"^to_haiku: `init` must be an initializer, got the builder `he_normal`"
    ):
        jhk.to_haiku(ji.he_normal)


def test_from_haiku_partition_spec_without_mesh():
    init = jhk.from_haiku(hk.initializers.RandomNormal())
    with pytest.raises(
        ValueError,
        match=r"from_haiku: `out_sharding` (P|PartitionSpec)\('x',?\) is a PartitionSpec",
    ):
        init(KEY, (8,), out_sharding=P("x"))


@pytest.mark.parametrize("name", jhk.__all__)
def test_public_functions_have_doctests(name):
    assert ">>>" in getattr(jhk, name).__doc__
