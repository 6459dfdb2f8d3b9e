"""Equinox helpers: create a whole model's parameters in one grouped call.

Every jax_inits initializer already works wherever Equinox takes an
``init(key, shape, dtype)``, and `jax_inits.tree.reinit` re-initializes the
array leaves of an existing module. `create` goes one step further for big
models: the module is built abstractly (``eqx.filter_eval_shape``, no parameter
memory), then its array leaves are created in one compiled call, each straight
into the sharding you ask for.

Equinox is imported when `create` is called, never by ``import jax_inits``.
"""

from __future__ import annotations

from typing import Any

import jax

from jax_inits._src import checks

__all__ = ("create", "reinit")


def create(make: Any, key: jax.Array, rules: Any = None, *, out_shardings: Any = None) -> Any:
    """Builds an Equinox module abstractly, then creates its array leaves in one call.

    ``make(key)`` is evaluated with ``eqx.filter_eval_shape`` (cached per ``make``
    and key type, ``make`` keyed by what it builds as for `jax_inits.flax.create`,
    so it must build the same structure on every call; `jax_inits.clear_caches`
    empties the cache); the array leaves are then created

    * with ``rules``: by `jax_inits.tree.init` (grouped draws; leaf values
      ``init(leaf_key(key, path), shape, dtype)`` with paths such as
      ``"layers/0/weight"``); the module's own initializers are not used;
    * without: by ``make`` itself in one ``jax.jit`` (the values
      ``eqx.filter_jit(make)(key)`` gives; compile time grows with the model's size).

    Everything that is not an array (activation functions, static fields) comes
    from the abstract module unchanged.

    Args:
      make: ``make(key) -> eqx.Module``, e.g. ``lambda k: eqx.nn.MLP(..., key=k)``.
      key: The PRNG key.
      rules: Rules as for `jax_inits.tree.init`, or ``None``.
      out_shardings: One ``Sharding`` for every array leaf, or a pytree of them
        with the structure of the module's array leaves (``eqx.filter`` of the
        abstract module); ``None``: the default device.

    Returns:
      The live module.

    Raises:
      TypeError: If ``make`` is not callable.

    Examples:
      >>> import equinox as eqx
      >>> import jax_inits.equinox
      >>> mlp = jax_inits.equinox.create(
      ...     lambda k: eqx.nn.MLP(4, 2, width_size=8, depth=2, key=k), jax.random.key(0),
      ...     [("*weight", jax_inits.he_normal(in_axis=-1, out_axis=-2)),
      ...      ("*bias", jax_inits.zeros)])
      >>> mlp.layers[1].weight.shape
      (8, 8)
    """
    with checks.needs("equinox.create", "equinox"):
        import equinox as eqx

    from jax_inits._src import abstract as _abstract
    from jax_inits._src import tree

    if not callable(make):
        raise TypeError(f"equinox.create: `make` must be callable, got {make!r}.")

    abstract, static = _abstract.equinox_module(make, key)
    if rules is not None:
        arrays = tree.init(key, abstract, rules, out_shardings=out_shardings)
    else:

        def own(k: jax.Array) -> Any:
            return eqx.filter(make(k), eqx.is_array)

        arrays = jax.jit(own, out_shardings=out_shardings)(key)
    return eqx.combine(arrays, static)


def reinit(module: Any, key: jax.Array, rules: Any, *, only: Any) -> Any:
    """A new module with the array leaves whose path matches ``only`` re-drawn.

    For surgery on a trained module: a new head, a layer re-drawn after a change.
    The selected leaves get the values `jax_inits.tree.init` (and `create`) gives
    them for ``key`` and ``rules``, in the sharding they have now; every other
    leaf is the same array as in ``module``. ``module`` itself is not changed
    (Equinox modules are immutable).

    Args:
      module: An ``eqx.Module`` (or any pytree).
      key: The PRNG key.
      rules: Rules as for `jax_inits.tree.init`, for the leaves ``only`` selects.
      only: Patterns (as in rules) of the leaves to re-draw, e.g. ``["layers/2/*"]``.

    Returns:
      The new module.

    Raises:
      TypeError: If ``only`` is not a sequence of patterns.
      ValueError: If ``only`` matches no array leaf, or no rule matches a selected one.

    Examples:
      >>> import equinox as eqx
      >>> import jax_inits.equinox
      >>> mlp = eqx.nn.MLP(4, 2, width_size=8, depth=2, key=jax.random.key(0))
      >>> new = jax_inits.equinox.reinit(
      ...     mlp, jax.random.key(1), [("*", jax_inits.zeros)], only=["layers/2/*"])
      >>> float(abs(new.layers[2].weight).sum()), new.layers[0].weight is mlp.layers[0].weight
      (0.0, True)
    """
    from jax_inits._src import tree

    if only is None:
        raise TypeError("equinox.reinit: `only` must be a sequence of patterns, got None.")
    return tree.reinit_as("equinox.reinit", module, key, rules, only=only)
