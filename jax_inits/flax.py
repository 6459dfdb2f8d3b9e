"""Flax (linen and nnx) helpers: sample parameters straight into their sharding.

Every jax_inits initializer already works as a Flax ``kernel_init``,
``bias_init`` or ``embedding_init``: it has the ``(key, shape, dtype)``
signature Flax calls. What Flax adds is sharding metadata, and there Flax's own
wrappers (``nnx.with_partitioning``, ``nn.with_partitioning``) create the full
value first and reshard it afterwards (eagerly, on one device: the whole
parameter must fit there). The wrappers here pass the parameter's sharding to
the initializer as ``out_sharding`` instead, so each device computes only its
own shard and no full-size temporary exists; the values are the same as
unsharded ones.

Other initializers (``jax.nn.initializers``, your own) have no such
``out_sharding`` path that works on every mesh: they are sampled whole and then
sharded, as with Flax's wrappers. The same happens when the initializer is
called with a shape of another rank than the sharding names (``nnx.LinearGeneral``
and attention kernels are initialised on a flattened shape, then reshaped).

Flax is imported when a wrapper is built or called, never by ``import jax_inits``.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

import jax
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import placement

__all__ = ("create", "create_linen", "linen_with_partitioning", "nnx_with_partitioning")


def _names(fn: str, sharding: Any) -> Any:
    if isinstance(sharding, (PartitionSpec, NamedSharding)):
        return sharding
    if isinstance(sharding, (tuple, list)) and all(
        n is None or isinstance(n, str) or isinstance(n, tuple) for n in sharding
    ):
        return tuple(sharding)
    raise TypeError(
        f"{fn}: `sharding` must be a tuple of mesh axis names (str or None), a "
        f"PartitionSpec or a NamedSharding, got {sharding!r}."
    )


def _target(sharding: Any, mesh: Any, rank: int, rules: Any) -> Any:
    """The NamedSharding or PartitionSpec to sample into, or None (no mesh, other rank)."""
    from flax.core import spmd

    resolved = spmd.apply_rules(sharding, rules)  # logical names -> mesh axes
    if isinstance(resolved, NamedSharding):
        spec = resolved.spec
    else:
        spec = PartitionSpec(*cast(Any, resolved))
    if len(spec) != rank:
        return None
    if isinstance(resolved, NamedSharding):
        return resolved
    if mesh is not None:
        return NamedSharding(mesh, spec)
    if jax.sharding.get_abstract_mesh().empty:
        return None
    return spec  # resolved against the mesh of `jax.set_mesh`


def nnx_with_partitioning(init: Any, sharding: Any, mesh: Any = None, **metadata: Any) -> Any:
    """Builds an nnx initializer that samples straight into the parameter's sharding.

    A drop-in for ``flax.nnx.with_partitioning(init, sharding, mesh)``: the
    ``nnx.Param`` gets the same ``out_sharding`` metadata (so
    ``nnx.get_partition_spec`` and friends see it), but a jax_inits ``init`` is
    called with that sharding as ``out_sharding``, so the value is born sharded
    (each device computes its shard) instead of being created whole and then
    resharded. Logical axis names are mapped through Flax's logical axis rules
    (``sharding_rules=`` or the context rules), as Flax does.

    Args:
      init: The initializer; jax_inits initializers sample into the sharding,
        others are sampled whole and sharded by Flax afterwards.
      sharding: Mesh (or logical) axis names, one per dimension (``None`` for
        replicated), a ``PartitionSpec`` or a ``NamedSharding``.
      mesh: The ``jax.sharding.Mesh``; ``None`` uses the mesh set with
        ``jax.set_mesh``.
      **metadata: More ``nnx.Variable`` metadata, e.g. ``sharding_rules``.

    Returns:
      An initializer ``(key, shape, dtype)`` for ``kernel_init`` and friends.

    Raises:
      TypeError: If ``init`` is not callable or ``sharding`` has the wrong type.
      ValueError: When called without a mesh while Flax's eager sharding is on.

    Examples:
      >>> from flax import nnx
      >>> from jax.sharding import PartitionSpec as P
      >>> import jax_inits.flax
      >>> mesh = jax.make_mesh((2, 4), ("data", "model"))
      >>> kernel_init = jax_inits.flax.nnx_with_partitioning(
      ...     jax_inits.he_normal(), (None, "model"))
      >>> with jax.set_mesh(mesh):
      ...     layer = nnx.Linear(64, 128, kernel_init=kernel_init, rngs=nnx.Rngs(0))
      >>> layer.kernel.get_value().sharding.spec == P(None, "model")
      True
    """
    from flax import nnx

    if not callable(init):
        raise TypeError(f"nnx_with_partitioning: `init` must be an initializer, got {init!r}.")
    names = _names("nnx_with_partitioning", sharding)
    rules = metadata.get("sharding_rules")

    def sample(key, shape, dtype=None):
        target = _target(names, mesh, len(shape), rules)
        no_mesh = mesh is None and jax.sharding.get_abstract_mesh().empty
        if no_mesh and not isinstance(names, NamedSharding) and nnx.using_eager_sharding():
            raise ValueError(
                f"nnx_with_partitioning: the parameter of shape {tuple(shape)} is sharded "
                f"as {names!r} but there is no mesh; pass `mesh=` or create the module "
                "inside `with jax.set_mesh(mesh):`."
            )
        return placement.sample_into(init, key, shape, dtype, target)

    return nnx.with_partitioning(sample, names, mesh=mesh, **metadata)


def linen_with_partitioning(init: Any, names: Any, mesh: Any = None) -> Any:
    """Builds a linen initializer that samples straight into its ``nn.Partitioned`` sharding.

    A drop-in for ``flax.linen.with_partitioning(init, names, mesh)``: the
    parameter is boxed in ``nn.Partitioned`` with the same names (so
    ``nn.get_partition_spec`` / ``nn.get_sharding`` see them). When a mesh is
    known (``mesh=`` or ``jax.set_mesh``) a jax_inits ``init`` samples straight
    into ``NamedSharding(mesh, PartitionSpec(*names))``, eagerly or under
    ``jax.jit``; without a mesh the value is unsharded, as with Flax's wrapper.
    Linen's ``nn.Partitioned`` applies its sharding with
    ``with_sharding_constraint``, so the mesh must have Auto axes (as for Flax's
    own wrapper).

    Args:
      init: The initializer.
      names: Mesh axis names, one per dimension (``None`` for replicated).
      mesh: The ``jax.sharding.Mesh``; ``None`` uses the mesh of ``jax.set_mesh``.

    Returns:
      An initializer ``(key, shape, dtype)`` for ``kernel_init`` and friends.

    Raises:
      TypeError: If ``init`` is not callable or ``names`` has the wrong type.

    Examples:
      >>> import flax.linen as nn
      >>> import jax_inits.flax
      >>> from jax.sharding import AxisType, PartitionSpec as P
      >>> mesh = jax.make_mesh((8,), ("model",), axis_types=(AxisType.Auto,))
      >>> dense = nn.Dense(64, kernel_init=jax_inits.flax.linen_with_partitioning(
      ...     jax_inits.lecun_normal(), (None, "model"), mesh))
      >>> params = dense.init(jax.random.key(0), jnp.ones((1, 32)))
      >>> params["params"]["kernel"].value.sharding.spec == P(None, "model")
      True
    """
    from flax import linen as nn

    if not callable(init):
        raise TypeError(f"linen_with_partitioning: `init` must be an initializer, got {init!r}.")
    checked = tuple(names) if isinstance(names, (tuple, list)) else None
    if checked is None or not all(n is None or isinstance(n, (str, tuple)) for n in checked):
        raise TypeError(
            "linen_with_partitioning: `names` must be a tuple of mesh axis names "
            f"(str or None), got {names!r}."
        )

    def sample(key, shape, dtype=None):
        value = placement.sample_into(
            init, key, shape, dtype, _target(checked, mesh, len(shape), None)
        )
        return nn.Partitioned(value, names=checked, mesh=mesh)

    return sample


def _in_mesh(mesh: Any) -> Any:
    """``jax.set_mesh(mesh)``, or no context for ``None``."""
    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def create(make: Any, key: jax.Array, rules: Any = None, *, mesh: Any = None) -> Any:
    """Creates a Flax nnx model abstractly, then every parameter into its sharding.

    ``make(rngs)`` is built under ``nnx.eval_shape`` (inside ``jax.set_mesh(mesh)``
    when a mesh is given, so sharding annotations such as
    ``nnx.with_partitioning`` resolve); no parameter exists until the state is
    created in one call, each laid out as its metadata asks
    (``nnx.get_named_sharding``):

    * with ``rules``: by `jax_inits.tree.init` (grouped draws, leaf values
      ``init(leaf_key(key, path), shape, dtype)``); the model's own initializers
      are not used;
    * without: by the model's own initializers, ``make(nnx.Rngs(key))`` traced
      in one ``jax.jit`` with the state's shardings as ``out_shardings`` (values
      as ``nnx.jit`` gives them; compile time grows with the model's size).

    The abstract build is Flax's own ``nnx.eval_shape``; with jax <= 0.10 its
    tracing time grows with the square of the number of variables (every
    ``Variable`` assignment probes ``.sharding`` of a tracer, whose error message
    walks the trace so far: jax pull request 40041), so for deep nnx models it,
    not the parameter creation, takes most of the time
    (``benchmarks/results/tree_depth.md``).

    Args:
      make: ``make(rngs) -> nnx.Module``, e.g. ``lambda rngs: Model(..., rngs=rngs)``.
      key: The PRNG key.
      rules: Rules as for `jax_inits.tree.init`, or ``None``.
      mesh: A ``jax.sharding.Mesh`` for the sharding annotations, or ``None``.

    Returns:
      The live model (``nnx.merge`` of its graph and the created state).

    Raises:
      TypeError: If ``make`` is not callable.

    Examples:
      >>> from flax import nnx
      >>> import jax_inits.flax
      >>> model = jax_inits.flax.create(
      ...     lambda rngs: nnx.Linear(4, 3, rngs=rngs), jax.random.key(0),
      ...     [("kernel", jax_inits.he_normal()), ("bias", jax_inits.zeros)])
      >>> model.kernel.get_value().shape
      (4, 3)
    """
    from flax import nnx

    from jax_inits._src import tree

    if not callable(make):
        raise TypeError(f"flax.create: `make` must be callable, got {make!r}.")

    def build(rngs_key):
        return make(nnx.Rngs(rngs_key))

    with _in_mesh(mesh):
        abstract = nnx.eval_shape(lambda: build(jax.random.key(0)))
    graphdef, state = nnx.split(abstract)
    shardings = None if mesh is None else nnx.get_named_sharding(state, mesh)
    if rules is not None:
        new = tree.init(key, state, rules, out_shardings=shardings)
    else:

        def own(k):
            return nnx.split(build(k))[1]

        with _in_mesh(mesh):
            new = jax.jit(own, out_shardings=shardings)(key)
    return nnx.merge(graphdef, new)


def create_linen(
    module: Any,
    key: jax.Array,
    *args: Any,
    rules: Any = None,
    mesh: Any = None,
    method: Any = None,
    **kwargs: Any,
) -> Any:
    """Creates the variables of a Flax linen module, each into its sharding.

    The linen counterpart of `create`: ``module.init(key, *args, **kwargs)`` is
    evaluated abstractly (``jax.eval_shape``, inside ``jax.set_mesh(mesh)`` when a
    mesh is given), the shardings come from its ``nn.with_partitioning``
    annotations (``nn.get_sharding``; unannotated leaves are replicated), and
    the variables are then created in one call:

    * with ``rules``: by `jax_inits.tree.init` over the unboxed variables
      (grouped draws; leaf values ``init(leaf_key(key, path), shape, dtype)``
      with paths such as ``"params/Dense_0/kernel"``); the module's own
      initializers are not used;
    * without: by ``module.init`` itself in one ``jax.jit`` with those
      shardings as ``out_shardings`` (the values ``jax.jit(module.init)`` gives;
      compile time grows with the model's size).

    The result has the structure ``module.init`` returns: annotated leaves stay
    boxed (``nn.Partitioned``), so ``module.apply`` takes it as it is.

    Args:
      module: A ``flax.linen.Module``.
      key: The PRNG key (``module.init``'s ``rngs``).
      *args: Example inputs for ``module.init`` (only their shapes are used).
      rules: Rules as for `jax_inits.tree.init`, or ``None``.
      mesh: A ``jax.sharding.Mesh`` for the sharding annotations, or ``None``.
      method: Passed to ``module.init``.
      **kwargs: Keyword inputs for ``module.init``.

    Returns:
      The variables, e.g. ``{"params": ...}``.

    Raises:
      TypeError: If ``module`` is not a linen module.

    Examples:
      >>> import flax.linen as nn
      >>> import jax_inits.flax
      >>> variables = jax_inits.flax.create_linen(
      ...     nn.Dense(3), jax.random.key(0), jnp.ones((1, 4)),
      ...     rules=[("*kernel", jax_inits.he_normal()), ("*bias", jax_inits.zeros)])
      >>> variables["params"]["kernel"].shape
      (4, 3)
    """
    from flax import linen as nn

    from jax_inits._src import tree

    if not isinstance(module, nn.Module):
        raise TypeError(
            f"flax.create_linen: `module` must be a flax.linen.Module, got {module!r}; "
            "for an nnx model use jax_inits.flax.create."
        )

    def init(k):
        return module.init(k, *args, method=method, **kwargs)

    with _in_mesh(mesh):
        abstract = jax.eval_shape(init, key)
    unboxed = nn.unbox(abstract)
    shardings = None
    if mesh is not None:
        replicated = NamedSharding(mesh, PartitionSpec())
        shardings = jax.tree.map(
            lambda s: replicated if s is None else s,
            nn.get_sharding(abstract, mesh),
            is_leaf=lambda s: s is None,
        )
    if rules is not None:
        new = tree.init(key, unboxed, rules, out_shardings=shardings)
    else:
        with _in_mesh(mesh):
            new = jax.jit(lambda k: nn.unbox(init(k)), out_shardings=shardings)(key)
    return nn.meta.replace_boxed(abstract, new)
