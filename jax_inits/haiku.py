"""Haiku adapters: jax_inits initializers as Haiku initializers, and back.

Haiku calls an initializer as ``init(shape, dtype)`` inside ``hk.transform`` and
draws keys from ``hk.next_rng_key()``; jax_inits initializers take the key as an
argument. `to_haiku` and `from_haiku` convert between the two.

Haiku is imported when an adapter is called, never by ``import jax_inits``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from jax_inits._src import base, checks, placement

__all__ = ("from_haiku", "to_haiku")


@dataclasses.dataclass(frozen=True)
class _ToHaiku:
    init: Any

    def __call__(self, shape: Any, dtype: Any) -> jax.Array:
        with checks.needs("to_haiku", "haiku"):
            import haiku as hk

        if isinstance(self.init, base.InitializerBase) and not self.init.random:
            key = None  # constants draw no key, so they also work without an rng
        else:
            key = hk.next_rng_key()
        return self.init(key, tuple(shape), dtype)


@dataclasses.dataclass(frozen=True)
class _FromHaiku:
    hk_init: Any

    def __call__(
        self, key: Any, shape: Any, dtype: Any = None, out_sharding: Any = None
    ) -> jax.Array:
        shape = checks.shape("from_haiku", shape)
        dtype = checks.dtype("from_haiku", dtype, random=False)
        dtype = base.default_float_dtype() if dtype is None else np.dtype(dtype)
        checks.key("from_haiku", key)
        return placement.sample_into(self._draw, key, shape, dtype, out_sharding, "from_haiku")

    def _draw(self, key: Any, shape: tuple[int, ...], dtype: Any) -> jax.Array:
        with checks.needs("from_haiku", "haiku"):
            import haiku as hk

        return hk.transform(lambda: self.hk_init(shape, dtype)).apply(None, key)


def to_haiku(init: Any) -> Any:
    """Wraps an initializer as a Haiku initializer ``(shape, dtype) -> Array``.

    The key comes from ``hk.next_rng_key()``, so the wrapper must be called
    inside ``hk.transform`` (as ``w_init``/``b_init`` of ``hk.Linear``,
    ``hk.Conv2D``, ... are). Constant jax_inits initializers (``zeros``,
    ``ones``, ``constant``) draw no key.

    Args:
      init: Any initializer ``(key, shape, dtype)``: jax_inits, jax.nn, your own.

    Returns:
      A Haiku initializer.

    Raises:
      TypeError: If ``init`` is not callable.

    Examples:
      >>> import haiku as hk
      >>> import jax_inits.haiku
      >>> def forward(x):
      ...     return hk.Linear(32, w_init=jax_inits.haiku.to_haiku(jax_inits.he_normal()))(x)
      >>> params = hk.transform(forward).init(jax.random.key(0), jnp.ones((1, 64)))
      >>> params["linear"]["w"].shape
      (64, 32)
    """
    checks.initializer("to_haiku", "init", init)
    return _ToHaiku(init)


def from_haiku(hk_init: Any) -> Any:
    """Wraps a Haiku initializer as an ``init(key, shape, dtype=None, out_sharding=None)``.

    The Haiku initializer runs in its own ``hk.transform`` whose rng is
    ``key``, so it can be used outside Haiku (with `jax_inits.tree`, Flax,
    equinox). ``out_sharding`` is applied after sampling (the value is sampled
    whole, then constrained).

    Args:
      hk_init: A Haiku initializer ``(shape, dtype) -> Array``, e.g.
        ``hk.initializers.VarianceScaling(2.0)``.

    Returns:
      An initializer satisfying `jax_inits.Initializer`.

    Raises:
      TypeError: If ``hk_init`` is not callable; when called, if ``key``,
        ``shape`` or ``dtype`` has the wrong type.

    Examples:
      >>> import haiku as hk
      >>> import jax_inits.haiku
      >>> init = jax_inits.haiku.from_haiku(hk.initializers.TruncatedNormal(0.02))
      >>> w = init(jax.random.key(0), (256, 256))
      >>> w.shape, w.dtype, round(float(w.std()), 2)
      ((256, 256), dtype('float32'), 0.02)
    """
    if not callable(hk_init):
        raise TypeError(f"from_haiku: `hk_init` must be a Haiku initializer, got {hk_init!r}.")
    return _FromHaiku(hk_init)
