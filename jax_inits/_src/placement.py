"""Sampling any initializer so that its result has a given sharding.

jax_inits initializers take the sharding as ``out_sharding``, so each device
computes only its own shard of the same global values. Other initializers
(jax.nn, haiku, your own) are sampled whole and then constrained: under
``jax.jit`` XLA partitions the sampling when it can; eagerly the full value
exists once before it is sharded.
"""

from __future__ import annotations

from typing import Any, cast

import jax
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import _jax_compat as compat
from jax_inits._src import base


def sample_into(
    init: Any,
    key: Any,
    shape: Any,
    dtype: Any,
    sharding: NamedSharding | PartitionSpec | None,
    caller: str | None = None,
) -> jax.Array:
    """Calls ``init(key, shape, dtype)`` laid out as ``sharding`` (``None``: unsharded).

    A ``PartitionSpec`` is resolved against the mesh of ``jax.set_mesh``; errors
    name ``caller`` (default: the initializer's name). A jax_inits initializer
    samples each shard in place; others are sampled whole, then resharded.
    """
    if sharding is None:
        return init(key, shape, dtype)
    named = base.resolve_sharding(caller or getattr(init, "name", "init"), sharding)
    named = cast(NamedSharding, named)  # None only for sharding=None, returned above
    if isinstance(init, base.InitializerBase):
        return init(key, shape, dtype, out_sharding=named)
    x = init(key, shape, dtype)
    if compat.explicit_axes(named.mesh):
        return compat.reshard(x, named)
    return jax.lax.with_sharding_constraint(x, named)
