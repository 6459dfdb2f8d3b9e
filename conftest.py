"""Test configuration: 8 virtual CPU devices and strict numerics.

``jax_num_cpu_devices`` must be set before jax creates its CPU backend, which is
why it is set at import time here (the same as running with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``). Unsharded calls run on
device 0, so the rest of the suite is unaffected.

The doctests of the framework adapters need their framework: without the
``frameworks`` extra (``make test-min``) those modules are not collected, and
the framework test files skip themselves with ``pytest.importorskip``.
"""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

import jax_inits  # noqa: E402

collect_ignore = [
    path
    for path, module in (
        ("jax_inits/flax.py", "flax"),
        ("jax_inits/haiku.py", "haiku"),
        ("jax_inits/equinox.py", "equinox"),
    )
    if importlib.util.find_spec(module) is None
]


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace.update(jax=jax, jnp=jnp, np=np, jax_inits=jax_inits)
