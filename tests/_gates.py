"""Markers for tests of what only some jax releases do."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_inits._src import _jax_compat as compat

#: Tests of the fused CPU kernels themselves (their HLO, temporaries, bucket kernels,
#: the fast erf_inv form): below `compat.FUSED_KERNELS` every draw is jax.random's
#: own, which loops and allocates, so there is nothing of theirs to test.
fused_kernels_only = pytest.mark.skipif(
    not compat.FUSED_KERNELS,
    reason=f"jax {jax.__version__} is below the fused kernels' gate (compat.FUSED_KERNELS)",
)

#: The golden values are jax 0.10.2's bits. jax 0.7.0 to 0.8.2 compute the CPU
#: erf_inv with other last bits (0.7.2: on 41682 of the 2^23 inputs jax.random.normal
#: feeds it, 0.5%; 0.8.0: on 166924 float32 in [-1, 1]), so jax.random's own normal
#: draws, and 35 of the 497 golden cases on 0.7.2, differ there. jax 0.5.3's erf_inv
#: differs on 0.03% of those inputs, which no golden case (all tiny) meets.
golden_values_pinned = pytest.mark.skipif(
    (0, 7) <= compat.JAX_VERSION < (0, 8, 3),
    reason=f"jax {jax.__version__}'s CPU erf_inv gives other last bits than the golden "
    "values' jax (README, Supported versions)",
)

#: jax 0.7.0 to 0.8.2: the last bits of XLA's CPU erf_inv depend on the loop it is
#: compiled in, so a draw partitioned over devices or processes (or vmapped over keys, as
#: `stacked` draws) can differ from the whole draw on a
#: few elements (below the fused kernels' gate every draw is jax.random's own).
#: jax.nn's own initializers do so too: he_normal (16, 24) under jit with and without
#: out_shardings on a 2x4 mesh differs in 1 element on 0.7.2.
SHARDED_BITS_MAY_DIFFER = (0, 7) <= compat.JAX_VERSION < (0, 8, 3)


def assert_sharded_equals_whole(sharded, whole):
    """Bit for bit; within 2 units of the dtype's precision (relative) where
    `SHARDED_BITS_MAY_DIFFER`."""
    if SHARDED_BITS_MAY_DIFFER and jnp.issubdtype(whole.dtype, jnp.inexact):
        wide = np.complex128 if jnp.issubdtype(whole.dtype, jnp.complexfloating) else np.float64
        eps = float(jnp.finfo(whole.dtype).eps)
        np.testing.assert_allclose(
            np.asarray(sharded).astype(wide), np.asarray(whole).astype(wide), rtol=2 * eps, atol=0
        )
    else:
        np.testing.assert_array_equal(np.asarray(sharded), np.asarray(whole))
