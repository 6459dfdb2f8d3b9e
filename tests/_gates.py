"""Markers for tests of what only some jax releases do."""

import jax
import pytest

from jax_inits._src import _jax_compat as compat

#: Tests of the fused CPU kernels themselves (their HLO, temporaries, bucket kernels,
#: the fast erf_inv form): below `compat.FUSED_KERNELS` every draw is jax.random's
#: own, which loops and allocates, so there is nothing of theirs to test.
fused_kernels_only = pytest.mark.skipif(
    not compat.FUSED_KERNELS,
    reason=f"jax {jax.__version__} is below the fused kernels' gate (compat.FUSED_KERNELS)",
)
