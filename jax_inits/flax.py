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

from typing import Any, cast

import jax
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import _jax_compat as compat
from jax_inits._src import checks, placement

__all__ = (
    "create",
    "create_linen",
    "linen_with_partitioning",
    "memory",
    "nnx_with_partitioning",
    "reinit",
)


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
    if compat.get_abstract_mesh().empty:
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
    with checks.needs("flax.nnx_with_partitioning", "flax"):
        from flax import nnx

    if not callable(init):
        raise TypeError(f"nnx_with_partitioning: `init` must be an initializer, got {init!r}.")
    names = _names("nnx_with_partitioning", sharding)
    rules = metadata.get("sharding_rules")

    def sample(key, shape, dtype=None):
        target = _target(names, mesh, len(shape), rules)
        no_mesh = mesh is None and compat.get_abstract_mesh().empty
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
    with checks.needs("flax.linen_with_partitioning", "flax"):
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


def _split_rest(fn: str, state: Any, filter: Any) -> tuple[Any, Any]:
    """``state`` split into the variables rules draw (``filter``) and the rest."""
    from flax import nnx

    try:
        drawn, rest = nnx.split_state(state, filter, ...)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{fn}: `filter` must be an nnx filter (a Variable type, a path glob, "
            f"nnx.Any(...), ...), got {filter!r}: {error}"
        ) from None
    return drawn, rest


def _known_by_path(known: Any, paths: list[str], rest: Any) -> dict[str, Any]:
    """``known`` as ``{path: array}`` by the model's paths. Orbax restores an
    ``nnx.State`` without a target as nested dicts with a ``"value"`` level
    (``body/kernel/value``); that level is looked through. A path of a variable
    ``filter`` does not select (in ``rest``) is an error that says so."""
    from jax_inits._src import tree

    kinds = _variable_kinds(rest)
    wanted = set(paths)
    out = {}
    for path, leaf in zip(*tree.flatten(known)[:2], strict=True):
        if path not in wanted and path.endswith("/value") and path[: -len("/value")] in wanted:
            path = path[: -len("/value")]
        if path not in wanted and path.removesuffix("/value") in kinds:
            raise ValueError(
                f"flax.create: the known leaf at path {path!r} is an nnx."
                f"{kinds[path.removesuffix('/value')]} variable, not one `filter` selects "
                "(nnx.Param by default); pass only those (`known=nnx.state(model, nnx.Param)`), "
                "or widen `filter=` to draw and take it too."
            )
        out[path] = leaf
    return out


def _variable_kinds(state: Any) -> dict[str, str]:
    """Path -> the nnx variable type's name of every variable in ``state``."""
    from flax import nnx

    from jax_inits._src import tree

    return {
        tree.path_string(path): type(variable).__name__
        for path, variable in nnx.to_flat_state(state)
    }


def _check_create_args(nnx: Any, make: Any, rules: Any, known: Any, report: bool) -> None:
    """`create`'s checks: ``make`` builds an nnx model; ``known`` and ``report`` need rules."""
    if isinstance(make, nnx.Module):
        name = type(make).__name__
        raise TypeError(
            f"flax.create: `make` must build the model, make(rngs) -> nnx.Module, got the built "
            f"module {name} ({type(make)!r}); pass `lambda rngs: {name}(..., rngs=rngs)` (a "
            "built model is re-drawn with jax_inits.flax.reinit)."
        )
    if not callable(make):
        raise TypeError(f"flax.create: `make` must be callable, got {make!r}.")
    if rules is None and (known is not None or report):
        raise ValueError(
            "flax.create: `known` and `report` need `rules` (to draw what `known` lacks); "
            "got rules=None."
        )


def create(
    make: Any,
    key: jax.Array,
    rules: Any = None,
    *,
    mesh: Any = None,
    filter: Any = None,  # noqa: A002 - nnx's own name for it
    known: Any = None,
    force: Any = (),
    report: bool = False,
) -> Any:
    """Creates a Flax nnx model abstractly, then every parameter into its sharding.

    ``make(rngs)`` is built abstractly (``nnx.eval_shape``, inside ``jax.set_mesh(mesh)``
    when a mesh is given, so annotations such as ``nnx.with_partitioning`` resolve), then
    its state is created in one call, each variable laid out as its metadata asks
    (``nnx.get_named_sharding``). With ``rules``, the variables of ``filter`` are drawn by
    `jax_inits.tree.init` (grouped; leaf values ``init(leaf_key(key, path), shape,
    dtype)``), not by the model's initializers; every other variable (RNG keys and counts
    of ``nnx.Dropout`` or ``nnx.Rngs``, ``nnx.BatchNorm`` statistics, caches) gets the
    value ``make(nnx.Rngs(key))`` gives it: dropout masks are those of the model built
    without this helper. Without ``rules``, one ``jax.jit`` of ``make(nnx.Rngs(key))``
    into those shardings (the values of ``nnx.jit``; its compile time grows with the model).

    The abstract model is cached per ``make`` and mesh (`jax_inits.clear_caches`
    empties it), so ``make`` must build the same structure on every call; a second call
    only draws. How ``make`` is keyed (an inline lambda reuses the build while what it
    reads is equal) and what a first build costs: docs/guides/model-scale.md.

    Args:
      make: ``make(rngs) -> nnx.Module``, e.g. ``lambda rngs: Model(..., rngs=rngs)``.
      key: The PRNG key.
      rules: Rules as for `jax_inits.tree.init`, or ``None``.
      mesh: A ``jax.sharding.Mesh`` for the sharding annotations, or ``None``.
      filter: The nnx filter of the variables ``rules`` draw; ``None`` is ``nnx.Param``.
      known: Values of ``filter``'s variables that are already known (e.g. restored
        from a checkpoint), a partial ``nnx.State`` or nested dict by the model's
        paths (``"layers/0/kernel"``; the ``"value"`` level of what orbax restores
        without a target is looked through); used as they are (cast and placed),
        the others drawn by ``rules``, as with `jax_inits.tree.init`'s ``known``.
      force: Patterns of known variables to draw anyway (``["head/*"]``).
      report: Also return the paths of the variables drawn by ``rules``.

    Returns:
      The live model (``nnx.merge`` of its graph and the created state); with
      ``report``, ``(model, drawn_paths)``.

    Raises:
      TypeError: If ``make`` is not callable (or is a built module), does not return an
        ``nnx.Module``, or ``filter`` is not an nnx filter.
      ValueError: If ``known`` or ``report`` is given without ``rules``, or as
        for `jax_inits.tree.init`.

    Examples:
      >>> from flax import nnx
      >>> import jax_inits.flax
      >>> model = jax_inits.flax.create(
      ...     lambda rngs: nnx.Linear(4, 3, rngs=rngs), jax.random.key(0),
      ...     [("kernel", jax_inits.he_normal()), ("bias", jax_inits.zeros)])
      >>> model.kernel.get_value().shape
      (4, 3)
    """
    with checks.needs("flax.create", "flax"):
        from flax import nnx

    from jax_inits._src import abstract, tree

    _check_create_args(nnx, make, rules, known, report)
    built = abstract.nnx_model(make, mesh)
    if rules is None:
        return nnx.merge(built.graphdef, built.own(key, built.state))
    selected = nnx.Param if filter is None else filter
    drawn_spec, rest_spec = _split_rest("flax.create", built.state, selected)
    if known is not None:
        known = _known_by_path(known, tree.leaf_paths(drawn_spec), rest_spec)
    drawn, paths = tree.init_reporting(
        key, drawn_spec, rules, out_shardings=built.shardings(drawn_spec), known=known, force=force
    )
    rest = built.own(key, rest_spec) if len(nnx.to_flat_state(rest_spec)) else rest_spec
    model = nnx.merge(built.graphdef, drawn, rest)
    return (model, paths) if report else model


def memory(make: Any, *, mesh: Any, filter: Any = None, processes: Any = None) -> Any:  # noqa: A002
    """Plans an nnx model's memory per device and per process, before creating it.

    ``make(rngs)`` is built abstractly as `create` builds it (the same cached
    ``nnx.eval_shape`` inside the mesh, so a later `create` on a concrete mesh reuses
    it) and every variable's sharding is read from its metadata
    (``nnx.with_partitioning``) on ``mesh``; `jax_inits.diagnostics.memory` reports
    the bytes. ``mesh`` may be a ``jax.sharding.AbstractMesh``: a laptop plans a pod.

    Args:
      make: ``make(rngs) -> nnx.Module``, as for `create`.
      mesh: A ``jax.sharding.Mesh`` or ``jax.sharding.AbstractMesh``.
      filter: The nnx filter of the variables to count; ``None``: all of the
        model's state (what the created model holds: parameters, RNG state,
        batch statistics).
      processes: As for `jax_inits.diagnostics.memory`.

    Returns:
      A `jax_inits.diagnostics.Memory` report.

    Raises:
      TypeError: If ``make`` is not callable or does not return an nnx.Module,
        ``mesh`` is not a mesh, or ``filter`` is not an nnx filter.
      ValueError: As for `jax_inits.diagnostics.memory`.

    Examples:
      >>> from flax import nnx
      >>> import jax_inits.flax
      >>> mesh = jax.sharding.AbstractMesh((2, 4), ("data", "model"))
      >>> def make(rngs):
      ...     init = nnx.with_partitioning(nnx.initializers.lecun_normal(), ("data", "model"))
      ...     return nnx.Linear(1024, 512, kernel_init=init, rngs=rngs)
      >>> report = jax_inits.flax.memory(make, mesh=mesh, filter=nnx.Param)
      >>> report.total_bytes, report.per_device[0]  # the bias is replicated
      (2099200, 264192)
    """
    with checks.needs("flax.memory", "flax"):
        from flax import nnx

    from jax_inits._src import abstract
    from jax_inits._src import memory as plan

    if isinstance(make, nnx.Module) or not callable(make):
        raise TypeError(
            f"flax.memory: `make` must build the model, make(rngs) -> nnx.Module, got {make!r}."
        )
    if not isinstance(mesh, (jax.sharding.Mesh, jax.sharding.AbstractMesh)):
        raise TypeError(
            "flax.memory: `mesh` must be a jax.sharding.Mesh or a jax.sharding.AbstractMesh, "
            f"got {mesh!r}."
        )
    built = abstract.nnx_model(make, mesh)
    state = built.state
    if filter is not None:
        state = _split_rest("flax.memory", state, filter)[0]
    return plan.plan("flax.memory", state, built.shardings(state), mesh=mesh, processes=processes)


def reinit(
    model: Any,
    key: jax.Array,
    rules: Any,
    *,
    only: Any,
    filter: Any = None,  # noqa: A002 - nnx's own name for it
) -> Any:
    """Re-draws some variables of a live Flax model: nnx in place, linen as new variables.

    For surgery on a trained model: a new head, a layer re-drawn after a change,
    a block reset. The variables whose path matches a pattern of ``only`` get the
    values `jax_inits.tree.init` (and `create`) gives them for ``key`` and
    ``rules`` (``init(leaf_key(key, path), shape, dtype)``), in the sharding they
    have now; every other variable keeps its array, untouched.

    Args:
      model: An ``nnx.Module`` (updated in place), or linen variables (``{"params":
        ...}``, boxed or not; a new dict is returned).
      key: The PRNG key.
      rules: Rules as for `jax_inits.tree.init`, for the variables ``only`` selects.
      only: Patterns (as in rules) of the variables to re-draw, e.g. ``["head/*"]``
        (nnx paths as ``"head/kernel"``, linen as ``"params/head/kernel"``).
      filter: nnx only: the variables considered (default ``nnx.Param``).

    Returns:
      ``None`` for an nnx model (changed in place); the new variables for linen.

    Raises:
      TypeError: If ``model`` is neither an nnx module nor a mapping of linen
        collections, or ``only`` is not a sequence of patterns.
      ValueError: If ``only`` matches no variable, or no rule matches a selected one.

    Examples:
      >>> from flax import nnx
      >>> import jax_inits.flax
      >>> model = nnx.Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)),
      ...                        nnx.Linear(8, 2, rngs=nnx.Rngs(1)))
      >>> body = model.layers[0].kernel.get_value()
      >>> jax_inits.flax.reinit(model, jax.random.key(2), [("*", jax_inits.zeros)],
      ...                       only=["layers/1/*"])
      >>> float(abs(model.layers[1].kernel.get_value()).sum())
      0.0
      >>> bool((model.layers[0].kernel.get_value() == body).all())
      True
    """
    from collections.abc import Mapping

    from jax_inits._src import tree

    nnx = _nnx_if_loaded()
    if nnx is not None and isinstance(model, nnx.Module):
        state = nnx.state(model, nnx.Param if filter is None else filter)
        new = tree.reinit_as("flax.reinit", state, key, rules, only=_only_list(only))
        nnx.update(model, new)
        return None
    if isinstance(model, Mapping) and filter is None:
        with checks.needs("flax.reinit", "flax"):
            from flax import linen as nn

        unboxed = nn.unbox(model)
        new = tree.reinit_as("flax.reinit", unboxed, key, rules, only=_only_list(only))
        return nn.meta.replace_boxed(model, new)
    raise TypeError(
        "flax.reinit: `model` must be an nnx.Module or linen variables (a mapping of "
        f"collections; `filter` is for nnx only), got {type(model).__name__}."
    )


def _nnx_if_loaded() -> Any:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax without nnx
        return None
    return nnx


def _only_list(only: Any) -> Any:
    if only is None:
        raise TypeError("flax.reinit: `only` must be a sequence of patterns, got None.")
    return only


def _check_linen_args(nn: Any, module: Any, collections: Any) -> None:
    """`create_linen`'s checks: a linen module and a tuple of collection names."""
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"flax.create_linen: `module` must be a flax.linen.Module, got {module!r}; "
            "for an nnx model use jax_inits.flax.create."
        )
    if isinstance(collections, str) or not (
        isinstance(collections, (tuple, list)) and all(isinstance(c, str) for c in collections)
    ):
        raise TypeError(
            "flax.create_linen: `collections` must be a tuple of collection names, "
            f"got {collections!r}."
        )


def create_linen(
    module: Any,
    key: jax.Array,
    *args: Any,
    rules: Any = None,
    mesh: Any = None,
    method: Any = None,
    collections: Any = ("params",),
    **kwargs: Any,
) -> Any:
    """Creates the variables of a Flax linen module, each into its sharding.

    The linen counterpart of `create`: ``module.init(key, *args, **kwargs)`` is
    evaluated abstractly (``jax.eval_shape``, inside ``jax.set_mesh(mesh)`` when a
    mesh is given; cached per module, input shapes, method and mesh), the
    shardings come from its ``nn.with_partitioning`` annotations
    (``nn.get_sharding``; unannotated leaves are replicated), and the variables
    are then created in one call:

    * with ``rules``: the ``collections`` (``params`` by default) by
      `jax_inits.tree.init` over the unboxed variables (grouped draws; leaf
      values ``init(leaf_key(key, path), shape, dtype)`` with paths such as
      ``"params/Dense_0/kernel"``); the module's own initializers are not used
      for them. Every other collection (``batch_stats``, ...) gets the values
      ``module.init(key, ...)`` gives it;
    * without: everything by ``module.init`` itself in one ``jax.jit`` with those
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
      collections: The collections ``rules`` draw.
      **kwargs: Keyword inputs for ``module.init``.

    Returns:
      The variables, e.g. ``{"params": ...}``.

    Raises:
      TypeError: If ``module`` is not a linen module or ``collections`` not a
        tuple of collection names.

    Examples:
      >>> import flax.linen as nn
      >>> import jax_inits.flax
      >>> variables = jax_inits.flax.create_linen(
      ...     nn.Dense(3), jax.random.key(0), jnp.ones((1, 4)),
      ...     rules=[("*kernel", jax_inits.he_normal()), ("*bias", jax_inits.zeros)])
      >>> variables["params"]["kernel"].shape
      (4, 3)
    """
    with checks.needs("flax.create_linen", "flax"):
        from flax import linen as nn

    from jax_inits._src import abstract, tree

    _check_linen_args(nn, module, collections)
    built = abstract.linen_variables(module, key, args, kwargs, method, mesh)
    names = tuple(built.unboxed)
    if rules is None:
        new = built.own(key, names)
    else:
        drawn = tuple(c for c in names if c in collections)
        rest = tuple(c for c in names if c not in collections)
        shardings = None
        if built.shardings is not None:
            shardings = {c: built.shardings[c] for c in drawn}
        new = tree.init(key, {c: built.unboxed[c] for c in drawn}, rules, out_shardings=shardings)
        if rest:
            new = {**new, **built.own(key, rest)}
        new = {c: new[c] for c in names}
    return nn.meta.replace_boxed(built.boxed, new)
