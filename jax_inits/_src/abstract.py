"""Abstract model construction for `jax_inits.flax` and `jax_inits.equinox`, in one place.

Each framework's ``create`` builds its model abstractly (shapes, dtypes,
shardings, no parameter memory), then draws the parameters with grouped
`jax_inits.tree.init`. The abstract build is what grows with the model's size,
so it is cached here, keyed by what determines the structure (the ``make``
callable or linen module, the input shapes, the mesh); a second ``create`` of
the same model with another key only draws. `jax_inits.clear_caches` empties
these caches.

The state that rules do not draw (nnx RNG streams and counts, batch statistics,
linen collections other than ``params``) comes from the model's own
construction: one ``jax.jit`` of it that returns only that state (jax prunes the
unused parameter draws before compiling), cached beside the abstract model.

Every abstract build runs with Python's cyclic garbage collector paused
(`paused_gc`): a build allocates a large number of objects that all stay alive
(modules, variables, tracers), and the collector keeps walking them. For the
256-layer nnx model of ``benchmarks/tree_depth.py`` the build ran 527
collections (4 of the oldest generation) that freed 2312 objects and took 0.5 s
of its 2.7 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import inspect
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jax_inits._src import _jax_compat, caches

_NNX = caches.Cache("abstract.nnx", maxsize=32)
_LINEN = caches.Cache("abstract.linen", maxsize=32)
_EQUINOX = caches.Cache("abstract.equinox", maxsize=32)


_gc_lock = threading.Lock()
_gc_pauses = 0  # the paused_gc contexts open now, in any thread
_gc_resume = False  # whether the first of them found the collector enabled


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector disabled within (and re-enabled after the
    last such context closes, if it was enabled before the first opened)."""
    global _gc_pauses, _gc_resume
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


def _in_mesh(mesh: Any) -> Any:
    """``jax.set_mesh(mesh)`` (an abstract mesh: ``use_abstract_mesh``), or no
    context for ``None``."""
    return contextlib.nullcontext() if mesh is None else _jax_compat.use_any_mesh(mesh)


def _hashable(*parts: Any) -> Any:
    """``parts`` as a cache key, or ``None`` when one of them is not hashable."""
    try:
        hash(parts)
    except TypeError:
        return None
    return parts


_BY_VALUE = (type(None), bool, int, float, complex, str, bytes, np.dtype)
_BY_IDENTITY = (type, types.ModuleType, types.BuiltinFunctionType)


def _code_names(code: types.CodeType) -> set[str]:
    """The global (and attribute) names ``code`` and the code nested in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _value_key(obj: Any, depth: int = 0, names: frozenset[str] = frozenset()) -> Any:
    """A key equal for two objects that build the same thing, or ``None`` when that
    cannot be told without calling them.

    Immutable values (numbers, strings, tuples, frozen dataclasses) are keyed by
    value; builtins by identity; classes and modules by identity and by the
    attributes of theirs that the code reading them may read (``names``: every
    attribute name in that code), each keyed the same way, so ``hp.width`` read
    from a module or class keys the build by the width it has now; a Python
    function by its code, closure, defaults and the globals it reads, each keyed
    the same way; a ``functools.partial`` by its function and arguments. So two
    lambdas written once and evaluated twice (``create(lambda rngs: Model(cfg,
    rngs=rngs), ...)`` in a loop) share a key while ``cfg`` is the same value, and
    anything mutable (a list, a plain object whose attributes may change) gives
    ``None``.
    """
    if depth > 16:  # nested containers, attributes and functions; a cycle ends here
        return None
    if isinstance(obj, _BY_VALUE):
        return (type(obj), obj)
    if isinstance(obj, (type, types.ModuleType)):
        return _namespace_key(obj, depth, names)
    if isinstance(obj, _BY_IDENTITY):
        return ("id", obj)
    if isinstance(obj, (tuple, frozenset)):
        items = [_value_key(item, depth + 1, names) for item in obj]
        return None if any(i is None for i in items) else (type(obj), tuple(items))
    if isinstance(obj, (classmethod, staticmethod)):  # read from a class: its function
        return _value_key(obj.__func__, depth + 1, names)
    if isinstance(obj, functools.partial):
        parts = (obj.func, obj.args, tuple(sorted(obj.keywords.items())))
        inner = _value_key(parts, depth + 1, names)
        return None if inner is None else ("partial", inner)
    if isinstance(obj, types.FunctionType):
        try:
            cells = tuple(cell.cell_contents for cell in obj.__closure__ or ())
        except ValueError:  # a cell not filled yet
            return None
        read = _code_names(obj.__code__)
        glob = tuple((n, obj.__globals__[n]) for n in sorted(read) if n in obj.__globals__)
        kwdefaults = tuple(sorted((obj.__kwdefaults__ or {}).items()))
        parts = (cells, obj.__defaults__ or (), kwdefaults, glob)
        inner = _value_key(parts, depth + 1, frozenset(read))
        return None if inner is None else ("function", obj.__code__, inner)
    if dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen:  # type: ignore[union-attr]
        fields = tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))
        inner = _value_key(fields, depth + 1, names)
        return None if inner is None else (type(obj), inner)
    return None


def _namespace_key(obj: Any, depth: int, names: frozenset[str]) -> Any:
    """A class's or module's key: its identity and the value keys of its attributes
    among ``names`` (an attribute is mutable state: ``hp.width = 11``)."""
    attrs = []
    for name in sorted(names):
        try:
            value = inspect.getattr_static(obj, name, _MISSING)
        except Exception:  # noqa: BLE001 - an odd namespace: not keyable
            return None
        if value is _MISSING or value is obj:
            continue
        inner = _value_key(value, depth + 1, names)
        if inner is None:
            return None
        attrs.append((name, inner))
    return ("id", obj, tuple(attrs))


_MISSING = object()


def _make_key(make: Any) -> Any:
    """The cache key of a ``make`` callable: `_value_key`, else ``make`` itself."""
    key = _value_key(make)
    return ("make", make) if key is None else key


def _cached(cache: caches.Cache, key: Any, build: Callable[[], Any]) -> Any:
    if key is None:
        return build()
    hit = cache.get(key)
    if hit is None:
        hit = build()
        cache.put(key, hit)
    return hit


def _context() -> tuple:
    """What outside ``make`` changes an abstract build: the mesh set with ``jax.set_mesh``."""
    return (_jax_compat.get_abstract_mesh(),)


# ----------------------------------------------------------------------------- nnx


class NnxModel:
    """An nnx model's abstract build: ``graphdef`` and ``state`` (``nnx.split`` of
    ``nnx.eval_shape(lambda: make(nnx.Rngs(0)))``), and the jitted own
    construction per output filter."""

    def __init__(self, make: Callable[[Any], Any], mesh: Any) -> None:
        from flax import nnx

        self.make, self.mesh = make, mesh
        with paused_gc(), _in_mesh(mesh), _jax_compat.quiet_tracer_errors():
            abstract = nnx.eval_shape(lambda: make(nnx.Rngs(0)))
            if not isinstance(abstract, nnx.Module):
                raise TypeError(f"flax.create: `make` must return an nnx.Module, got {abstract!r}.")
            self.graphdef, self.state = nnx.split(abstract)
        self._own: dict[Any, Any] = {}

    def shardings(self, state: Any) -> Any:
        """The ``NamedSharding`` of every leaf of (part of) ``state`` on the mesh, or ``None``."""
        from flax import nnx

        return None if self.mesh is None else nnx.get_named_sharding(state, self.mesh)

    def own(self, key: jax.Array, part: Any) -> Any:
        """The values ``make(nnx.Rngs(key))`` gives to the variables of ``part`` (a
        state with a subset of the model's variables; ``self.state`` for all), laid out
        as their metadata asks; one compiled call, cached per set of paths."""
        from flax import nnx

        paths = tuple(path for path, _ in nnx.to_flat_state(part))
        jitted = self._own.get(paths)
        if jitted is None:
            wanted = set(paths)
            make = self.make

            def own(k: jax.Array) -> Any:
                state = nnx.state(make(nnx.Rngs(k)))
                flat = [(p, v) for p, v in nnx.to_flat_state(state) if p in wanted]
                return nnx.from_flat_state(flat)

            jitted = jax.jit(own, out_shardings=self.shardings(part))
            self._own[paths] = jitted
        with _in_mesh(self.mesh), _jax_compat.quiet_tracer_errors():
            return jitted(key)


def nnx_model(make: Callable[[Any], Any], mesh: Any) -> NnxModel:
    """The cached abstract build of ``make`` (see `NnxModel`) under ``mesh``."""
    from flax import nnx

    key = _hashable(_make_key(make), mesh, nnx.using_eager_sharding(), _context())
    return _cached(_NNX, key, lambda: NnxModel(make, mesh))


# ----------------------------------------------------------------------------- linen


def _arg_key(tree: Any) -> Any:
    """What of the example inputs decides the variables' shapes: their structure, and
    each leaf's shape and dtype (arrays) or value (anything else)."""
    leaves, treedef = jax.tree.flatten(tree)
    out = []
    for leaf in leaves:
        if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
            out.append(("array", tuple(leaf.shape), str(leaf.dtype)))
        else:
            out.append(("value", leaf))
    return treedef, tuple(out)


class LinenVariables:
    """A linen module's abstract ``init``: the boxed abstract variables, their
    shardings, and the jitted own ``init`` per output set of collections."""

    def __init__(self, init: Callable[[jax.Array], Any], key: jax.Array, mesh: Any) -> None:
        from flax import linen as nn

        self.init, self.mesh = init, mesh
        with paused_gc(), _in_mesh(mesh):
            self.boxed = jax.eval_shape(init, key)
        self.unboxed = nn.unbox(self.boxed)
        self.shardings = None
        if mesh is not None:
            replicated = NamedSharding(mesh, PartitionSpec())
            self.shardings = jax.tree.map(
                lambda s: replicated if s is None else s,
                nn.get_sharding(self.boxed, mesh),
                is_leaf=lambda s: s is None,
            )
        self._own: dict[Any, Any] = {}

    def own(self, key: jax.Array, collections: tuple[str, ...]) -> dict:
        """The unboxed values ``init(key)`` gives to ``collections``, in their shardings."""
        from flax import linen as nn

        jitted = self._own.get(collections)
        if jitted is None:
            init = self.init
            shardings = None
            if self.shardings is not None:
                shardings = {c: self.shardings[c] for c in collections}

            def own(k: jax.Array) -> dict:
                variables = nn.unbox(init(k))
                return {c: variables[c] for c in collections}

            jitted = jax.jit(own, out_shardings=shardings)
            self._own[collections] = jitted
        with _in_mesh(self.mesh):
            return jitted(key)


def linen_variables(
    module: Any, key: jax.Array, args: tuple, kwargs: dict, method: Any, mesh: Any
) -> LinenVariables:
    """The cached abstract ``module.init(key, *args, method=method, **kwargs)`` under ``mesh``."""

    def init(k: jax.Array) -> Any:
        return module.init(k, *args, method=method, **kwargs)

    cache_key = _hashable(module, _arg_key((args, kwargs)), method, mesh, _arg_key(key), _context())
    return _cached(_LINEN, cache_key, lambda: LinenVariables(init, key, mesh))


# ----------------------------------------------------------------------------- equinox


def equinox_module(make: Callable[[jax.Array], Any], key: jax.Array) -> tuple[Any, Any]:
    """The cached ``eqx.filter_eval_shape(make, key)``, split into its abstract array
    leaves and the rest (``eqx.partition``)."""
    import equinox as eqx

    def build() -> tuple[Any, Any]:
        with paused_gc():
            abstract = eqx.filter_eval_shape(make, key)
        return eqx.partition(abstract, lambda leaf: isinstance(leaf, jax.ShapeDtypeStruct))

    return _cached(_EQUINOX, _hashable(_make_key(make), _arg_key(key), _context()), build)
