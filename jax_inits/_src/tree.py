"""Whole-tree parameter creation: rules from leaf paths to initializers.

A leaf's path is its pytree key path written as a string, the keys joined with
"/" (``{"dense": {"kernel": w}}`` -> ``"dense/kernel"``, list items by index,
attributes by name; a Flax nnx ``Variable`` is named by its own path). Rules
map paths to initializers; the first rule that matches a leaf decides it.

Each leaf draws from its own key, derived from the root key and the path string
alone (never from the leaf's position), so adding, removing or reordering other
leaves leaves its values unchanged:

```text
digest = BLAKE2b(path.encode("utf-8"), digest_size=8)
w0, w1 = the two little-endian uint32 words of digest
leaf_key = fold_in(fold_in(root, w0), w1)
```

``root`` is ``key`` itself for a threefry key. For any other implementation
(``rbg``, ``unsafe_rbg``, custom) it is the threefry key folded from the key's
data, ``K = wrap_key_data([0, 0], impl="threefry2x32")`` then
``K = fold_in(K, d)`` for each uint32 word ``d`` of ``jax.random.key_data(key)``
in order; so every leaf is drawn from a threefry key, and its values are the
same on any mesh and device count (rbg bits depend on the layout). A single
initializer called with an rbg key keeps jax.random's meaning.

Leaves are drawn in groups: leaves with the same initializer, shape, dtype and
sharding are created by one draw vmapped over their keys (the path words are
passed as data), so a model's compile time follows its number of distinct
groups, not its depth. Each leaf still equals
``init(leaf_key(key, path), shape, dtype)``.

The digest is 64 bits, so two distinct paths of an n-leaf tree share a key with
probability about n^2 / 2^65; two leaves with the same path string (a dict key
that contains "/") are an error.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec, Sharding

from jax_inits._src import _jax_compat as compat
from jax_inits._src import base, caches, checks, placement

Pattern = str | re.Pattern | Callable[[str, Any], bool]
Rules = Mapping[Any, Any] | Sequence[tuple[Any, Any]]


# ----------------------------------------------------------------------------- paths and keys


def _key_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def path_string(path: Sequence[Any]) -> str:
    """The "/"-joined string of a pytree key path (dict keys, attributes, indices)."""
    return "/".join(_key_name(entry) for entry in path)


def _is_nnx_variable(node: Any) -> bool:
    nnx = sys.modules.get("flax.nnx")  # never imported here: only seen if the user has it
    return nnx is not None and isinstance(node, nnx.Variable)


def flatten(tree: Any) -> tuple[list[str], list[Any], Any]:
    """(paths, leaves, treedef) of ``tree``; leaves in ``jax.tree.flatten`` order.

    A Flax nnx ``Variable`` (the leaves of an ``nnx.State``) holding one array
    is named by its own path, ``"layers/0/kernel"``, not ``"layers/0/kernel/value"``.
    """
    paths, leaves = [], []
    for path, node in jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_nnx_variable)[0]:
        prefix = path_string(path)
        inner = jax.tree_util.tree_flatten_with_path(node)[0] if _is_nnx_variable(node) else None
        if inner is None or len(inner) == 1:
            paths.append(prefix)
            leaves.append(node if inner is None else inner[0][1])
        else:
            for sub, leaf in inner:
                paths.append(f"{prefix}/{path_string(sub)}")
                leaves.append(leaf)
    return paths, leaves, jax.tree_util.tree_structure(tree)


def path_words(path: str) -> tuple[np.uint32, np.uint32]:
    """The two uint32 words of the 64-bit BLAKE2b digest of ``path`` (UTF-8)."""
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    words = np.frombuffer(digest, dtype="<u4")
    return np.uint32(words[0]), np.uint32(words[1])


def _fold(key: jax.Array, words: tuple[Any, Any]) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(key, words[0]), words[1])


def _threefry_root(key: jax.Array) -> jax.Array:
    """The threefry key every leaf key of ``key`` is folded from.

    A threefry key (typed, or raw ``uint32[2]``) is its own root. Any other
    implementation (rbg, unsafe_rbg, custom) is replaced by
    ``fold_in(...fold_in(fold_in(K0, d_0), d_1)..., d_{m-1})`` with ``K0`` the
    threefry key with data ``[0, 0]`` and ``d_0 ... d_{m-1}`` the uint32 words of
    ``jax.random.key_data(key)`` in order, so that leaves are drawn by threefry
    whatever the root's implementation.
    """
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):  # pyright: ignore[reportPrivateImportUsage]
        return key  # raw uint32[2]: threefry data (checked by _check_key)
    if str(jax.random.key_impl(key)) == "threefry2x32":
        return key
    data = jax.random.key_data(key).reshape(-1)
    root = jax.random.wrap_key_data(jnp.zeros((2,), jnp.uint32), impl="threefry2x32")
    for i in range(data.shape[0]):
        root = jax.random.fold_in(root, data[i])
    return root


def leaf_key(key: jax.Array, path: str) -> jax.Array:
    """Derives the key of the leaf at ``path`` from the root ``key``.

    ``fold_in(fold_in(root, w0), w1)`` with ``w0, w1`` the little-endian uint32
    words of the 8-byte BLAKE2b digest of the UTF-8 path: the key depends on
    the path string alone, not on the leaf's position or on Python's ``hash``.
    ``root`` is ``key`` for threefry keys, else the threefry key folded from
    ``key``'s data (see the module docstring), so the result is always a
    threefry key.

    Args:
      key: The root PRNG key given to `init` or `reinit`.
      path: The leaf's "/"-joined path, e.g. ``"encoder/layers/0/kernel"``.

    Returns:
      The key `init` gives to the leaf's initializer.

    Raises:
      TypeError: If ``key`` is not a PRNG key or ``path`` not a string.

    Examples:
      >>> import jax_inits.tree
      >>> key = jax.random.key(0)
      >>> w = jax_inits.tree.init(
      ...     key, {"w": jax.ShapeDtypeStruct((2, 3), jnp.float32)}, [("*", jax_inits.normal())])
      >>> k = jax_inits.tree.leaf_key(key, "w")
      >>> bool((w["w"] == jax_inits.normal()(k, (2, 3))).all())
      True
    """
    _check_key("leaf_key", key)
    if not isinstance(path, str):
        raise TypeError(f"leaf_key: `path` must be a str, got {path!r}.")
    return _fold(_threefry_root(key), path_words(path))


def leaf_paths(tree: Any) -> list[str]:
    """The "/"-joined path of every leaf of ``tree``, in flattening order.

    Use it to see what a rule's pattern is matched against.

    Args:
      tree: Any pytree (parameters, a spec from ``jax.eval_shape``, a module).

    Returns:
      A list with one path string per leaf.

    Examples:
      >>> import jax_inits.tree
      >>> jax_inits.tree.leaf_paths({"dense": {"kernel": 1, "bias": 2}, "scale": [3, 4]})
      ['dense/bias', 'dense/kernel', 'scale/0', 'scale/1']
    """
    return flatten(tree)[0]


def _check_key(fn: str, key: Any) -> None:
    dt = getattr(key, "dtype", None)
    if dt is not None and jnp.issubdtype(dt, jax.dtypes.prng_key):
        if np.ndim(key) == 0:
            return
    elif dt is not None and dt == np.uint32 and np.shape(key) == (2,):
        return
    raise TypeError(
        f"{fn}: `key` must be a single PRNG key from jax.random.key or "
        f"jax.random.PRNGKey, got {key!r}."
    )


# ----------------------------------------------------------------------------- rules


def _describe_pattern(pattern: Any) -> str:
    if isinstance(pattern, re.Pattern):
        return f"re.compile({pattern.pattern!r})"
    if isinstance(pattern, str):
        return repr(pattern)
    return getattr(pattern, "__name__", repr(pattern))


def _rule_list(fn: str, rules: Any, *, allow_keep: bool) -> list[tuple[Any, Any]]:
    """Checks ``rules`` and returns them as a list of (pattern, initializer) pairs."""
    if isinstance(rules, Mapping):
        items = list(rules.items())
    elif isinstance(rules, Sequence) and not isinstance(rules, (str, bytes)):
        items = []
        for rule in rules:
            if not (isinstance(rule, (tuple, list)) and len(rule) == 2):
                raise TypeError(
                    f"{fn}: `rules` must be a mapping or a sequence of (pattern, initializer) "
                    f"pairs, got the item {rule!r}."
                )
            items.append(tuple(rule))
    else:
        raise TypeError(
            f"{fn}: `rules` must be a mapping or a sequence of (pattern, initializer) "
            f"pairs, got {rules!r}."
        )
    for pattern, init in items:
        if not isinstance(pattern, (str, re.Pattern)) and not callable(pattern):
            raise TypeError(
                f"{fn}: a rule's pattern must be a glob string, a compiled regex "
                f"(re.compile) or a predicate (path, leaf) -> bool, got {pattern!r}."
            )
        if (init is None and allow_keep) or isinstance(init, Deferred):
            continue
        if not callable(init):
            allowed = "an initializer or None (keep the leaf)" if allow_keep else "an initializer"
            raise TypeError(
                f"{fn}: the rule for {_describe_pattern(pattern)} must map to {allowed}, "
                f"got {init!r}."
            )
    return items


def _matches(pattern: Any, path: str, leaf: Any) -> bool:
    if isinstance(pattern, str):
        return fnmatch.fnmatchcase(path, pattern)
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(path) is not None
    return bool(pattern(path, leaf))


def _first_match(fn: str, rules: list[tuple[Any, Any]], path: str, leaf: Any) -> Any:
    for pattern, init in rules:
        if _matches(pattern, path, leaf):
            return init
    shown = ", ".join(_describe_pattern(p) for p, _ in rules) or "none"
    raise ValueError(
        f"{fn}: no rule matches the leaf at path {path!r} (shape {tuple(leaf.shape)}, "
        f"dtype {np.dtype(leaf.dtype).name}); the patterns are: {shown}. "
        "Add a rule for it, e.g. ('*', jax_inits.zeros) last to catch the rest."
    )


# ----------------------------------------------------------------------------- deferred rules


@dataclasses.dataclass(frozen=True)
class Deferred:
    """A rule value whose initializer is built per leaf when the tree is planned.

    ``build(path, lookup)`` gets the leaf's path and ``lookup(other_path)``,
    which returns the spec leaf (shape and dtype) at another path of the same
    tree, and returns the initializer. Made by `deferred` and `sibling`.
    """

    build: Callable[[str, Callable[[str], Any]], Any]

    def resolve(self, fn: str, path: str, leaves: Mapping[str, Any]) -> Any:
        def lookup(other: str) -> Any:
            if other not in leaves:
                raise ValueError(
                    f"{fn}: the rule for the leaf at path {path!r} needs the leaf at path "
                    f"{other!r}, which the tree does not have."
                )
            return leaves[other]

        init = self.build(path, lookup)
        if not callable(init):
            raise TypeError(
                f"{fn}: the deferred rule for the leaf at path {path!r} must build an "
                f"initializer, got {init!r}."
            )
        return init


def deferred(build: Callable[[str, Callable[[str], Any]], Any]) -> Deferred:
    """Makes a rule value whose initializer depends on the leaf's path or on other leaves.

    Use it where a leaf's distribution depends on something its own shape does
    not hold: the layer index in its path (depth-scaled inits), or another
    leaf's shape. The initializer is built when `init` or `reinit`
    plans the tree (outside the traced call), so it is an ordinary static
    initializer there.

    Args:
      build: ``build(path, lookup) -> initializer``; ``lookup(other_path)``
        returns the leaf at another "/"-joined path of the same tree (a
        ``ShapeDtypeStruct`` or array); a missing path is a ``ValueError``.

    Returns:
      A value to use in place of an initializer in a rule.

    Raises:
      TypeError: ``build`` is not callable.

    Examples:
      >>> import jax_inits.tree
      >>> def by_layer(path, lookup):
      ...     return jax_inits.normal(1.0 / (1 + int(path.split("/")[1])))
      >>> spec = {"layers": [jax.ShapeDtypeStruct((512, 512), jnp.float32)] * 2}
      >>> rules = [("*", jax_inits.tree.deferred(by_layer))]
      >>> p = jax_inits.tree.init(jax.random.key(0), spec, rules)
      >>> [round(float(w.std()), 1) for w in p["layers"]]
      [1.0, 0.5]
    """
    if not callable(build):
        raise TypeError(f"tree.deferred: `build` must be callable, got {build!r}.")
    return Deferred(build)


def sibling(name: str, build: Callable[[tuple[int, ...]], Any]) -> Deferred:
    """Makes a rule value built from the shape of a sibling leaf (same parent path).

    For a leaf at ``"a/b/bias"``, ``sibling("kernel", build)`` calls
    ``build(shape of "a/b/kernel")``. The usual use is a bias whose
    distribution depends on its layer's fan-in, as torch's ``nn.Linear`` and
    ``nn.Conv*`` biases do: ``U(±1/sqrt(fan_in))`` with the *kernel's* fan-in.

    Args:
      name: The sibling's last path component, e.g. ``"kernel"``.
      build: ``build(sibling_shape) -> initializer``.

    Returns:
      A value to use in place of an initializer in a rule.

    Raises:
      TypeError: ``name`` is not a string or ``build`` not callable.

    Examples:
      >>> import math, jax_inits.tree
      >>> bias = jax_inits.tree.sibling(
      ...     "kernel", lambda k: jax_inits.pytorch.linear_bias_default(math.prod(k[:-1])))
      >>> spec = {"dense": {"kernel": jax.ShapeDtypeStruct((400, 1000), jnp.float32),
      ...                   "bias": jax.ShapeDtypeStruct((1000,), jnp.float32)}}
      >>> p = jax_inits.tree.init(jax.random.key(0), spec,
      ...     [("*kernel", jax_inits.pytorch.linear_default()), ("*bias", bias)])
      >>> bool(jnp.abs(p["dense"]["bias"]).max() <= 1 / 20)
      True
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise TypeError(
            f"tree.sibling: `name` must be a leaf name (a str without '/'), got {name!r}."
        )
    if not callable(build):
        raise TypeError(f"tree.sibling: `build` must be callable, got {build!r}.")

    def from_sibling(path: str, lookup: Callable[[str], Any]) -> Any:
        parent = path.rpartition("/")[0]
        other = lookup(f"{parent}/{name}" if parent else name)
        return build(tuple(other.shape))

    return Deferred(from_sibling)


# ----------------------------------------------------------------------------- creation


@dataclasses.dataclass(frozen=True)
class _PerLayer:
    """Slice ``i`` of axis 0 is ``inits[i](jax.random.split(key, L)[i], shape[1:], dtype)``:
    `jax_inits.stacked`'s formula with an initializer per layer (see `scanned`)."""

    inits: tuple

    def __call__(self, key: jax.Array, shape: Any, dtype: Any = None) -> jax.Array:
        shape = tuple(shape)
        keys = jax.random.split(key, len(self.inits))
        extra = () if dtype is None else (dtype,)
        return jnp.stack([init(keys[i], shape[1:], *extra) for i, init in enumerate(self.inits)])


class _LayerLeaves(Mapping):
    """The spec leaves as one layer of a scanned stack sees them: ``prefix/i/rest`` is
    ``prefix/rest`` without its leading (layer) axis."""

    def __init__(self, head: str, lookup: Callable[[str], Any]) -> None:
        self.head, self.lookup = head, lookup

    def __getitem__(self, path: str) -> Any:
        if path.startswith(self.head):
            index, _, rest = path[len(self.head) :].partition("/")
            if index.isdigit() and rest:
                leaf = self.lookup(self.head + rest)
                return jax.ShapeDtypeStruct(tuple(leaf.shape)[1:], leaf.dtype)
        return self.lookup(path)

    def __contains__(self, path: object) -> bool:
        try:
            self[cast(str, path)]
        except ValueError:
            return False
        return True

    def __iter__(self) -> Any:  # pragma: no cover - Mapping's contract; never iterated
        return iter(())

    def __len__(self) -> int:  # pragma: no cover
        return 0


def scanned(rules: Rules, prefix: str) -> list[tuple[Any, Any]]:
    """Rules for a model whose layers under ``prefix`` are stacked on a leading axis.

    Deep Flax nnx models are often built with stacked layers (``nnx.vmap`` creates
    the blocks, ``nnx.scan`` applies them): the leaf ``prefix/rest`` then has shape
    ``(L, *s)`` and stands for the ``L`` leaves ``prefix/i/rest`` of shape ``s`` of
    the unscanned model. With the returned rules its slice ``i`` is what ``rules``
    give the leaf ``prefix/i/rest``: each layer an independent draw
    (``jax.random.split(leaf_key, L)[i]``, as `jax_inits.stacked`), no fan counts
    the layer axis, and per-layer rules (the depth-scaled presets, which read the
    block index from the path) see layer ``i``'s own path. Leaves outside
    ``prefix`` follow ``rules`` unchanged. Works with every preset.

    Args:
      rules: Rules as for `init`, written for the unscanned model.
      prefix: The "/"-joined path of the stack, e.g. ``"layers"`` or ``"encoder/blocks"``.

    Returns:
      The rules for the scanned model.

    Raises:
      TypeError: If ``rules`` or ``prefix`` has the wrong type.
      ValueError: When planned, if a stacked leaf has no leading axis or no rule
        matches a layer's path.

    Examples:
      >>> import jax_inits.tree
      >>> spec = {"layers": {"kernel": jax.ShapeDtypeStruct((4, 512, 512), jnp.float32)}}
      >>> rules = jax_inits.tree.scanned([("*kernel", jax_inits.he_normal())], "layers")
      >>> w = jax_inits.tree.init(jax.random.key(0), spec, rules)["layers"]["kernel"]
      >>> round(float(w[2].std()) * (512 / 2) ** 0.5, 1)  # he_normal of (512, 512) each
      1.0
    """
    items = _rule_list("tree.scanned", rules, allow_keep=True)
    if not isinstance(prefix, str) or not prefix.strip("/"):
        raise TypeError(f"tree.scanned: `prefix` must be a non-empty path string, got {prefix!r}.")
    head = prefix.strip("/") + "/"
    return [(InStack(head), Deferred(_ScannedRule(tuple(items), head))), *items]


@dataclasses.dataclass(frozen=True)
class InStack:
    """The pattern of `scanned`'s stacked leaves: under ``head`` and not ``head/<i>/...``
    (a layer of an unscanned model, whose rules apply as they are)."""

    head: str

    def __call__(self, path: str, leaf: Any) -> bool:
        return path.startswith(self.head) and not path[len(self.head) :].split("/")[0].isdigit()

    def __repr__(self) -> str:
        return f"tree.scanned(..., {self.head[:-1]!r})"


@dataclasses.dataclass(frozen=True)
class _ScannedRule:
    """`scanned`'s rule for a stacked leaf: per layer, what ``items`` give ``head/i/rest``."""

    items: tuple
    head: str

    def __call__(self, path: str, lookup: Callable[[str], Any]) -> Any:
        from jax_inits._src.structural import stacked

        head, prefix = self.head, self.head[:-1]
        leaf = lookup(path)
        if not tuple(leaf.shape):
            raise ValueError(
                f"tree.scanned: the leaf at path {path!r} is under the stack {prefix!r} but "
                "has no leading layer axis (it is a scalar)."
            )
        one = jax.ShapeDtypeStruct(tuple(leaf.shape)[1:], leaf.dtype)
        layer_leaves = _LayerLeaves(head, lookup)
        inits = []
        for i in range(leaf.shape[0]):
            layer_path = f"{head}{i}/{path[len(head) :]}"
            init = _first_match("tree.scanned", list(self.items), layer_path, one)
            if isinstance(init, Deferred):
                init = init.resolve("tree.scanned", layer_path, layer_leaves)
            if init is None:
                raise ValueError(
                    f"tree.scanned: the rule for {layer_path!r} keeps the leaf (None); a "
                    "stacked leaf is kept or drawn as a whole: put a keep rule for "
                    f"{path!r} before the scanned rules."
                )
            inits.append(init)
        if all(init == inits[0] for init in inits[1:]):
            return stacked(inits[0])
        return _PerLayer(tuple(inits))


def check_stacks(fn: str, rules: list[tuple[Any, Any]], paths: Sequence[str]) -> None:
    """Every `scanned` prefix among ``rules`` must hold a leaf of ``paths``."""
    for pattern, _ in rules:
        if isinstance(pattern, InStack) and not any(p.startswith(pattern.head) for p in paths):
            raise ValueError(
                f"{fn}: the `tree.scanned` prefix {pattern.head[:-1]!r} matches no leaf, so its "
                f"stacked leaves would be drawn as one tensor (the layer axis in the fan); give "
                f"the stack's path as `prefix`. The paths are {list(paths[:8])}"
                + (f" and {len(paths) - 8} more." if len(paths) > 8 else ".")
            )


def _is_array_like(leaf: Any) -> bool:
    return hasattr(leaf, "shape") and hasattr(leaf, "dtype")


def _resolve(fn: str, path: str, sharding: Any) -> Any:
    """A leaf's sharding as given to the initializer: NamedSharding, other Sharding or None."""
    if isinstance(sharding, NamedSharding):
        _check_layout_possible(fn, sharding)
    if sharding is None or isinstance(sharding, NamedSharding):
        return sharding
    if isinstance(sharding, PartitionSpec):
        if compat.get_abstract_mesh().empty:
            raise ValueError(
                f"{fn}: the sharding {sharding!r} of the leaf at path {path!r} is a "
                "PartitionSpec, which needs a mesh: call inside `with jax.set_mesh(mesh):` "
                "or give a NamedSharding."
            )
        named = base.resolve_sharding(fn, sharding)
        _check_layout_possible(fn, named)
        return named
    if isinstance(sharding, Sharding):
        return sharding
    raise TypeError(
        f"{fn}: a leaf's sharding must be a jax.sharding.Sharding, a PartitionSpec or "
        f"None, got {sharding!r}."
    )


def check_spec(fn: str, path: str, shape: tuple[int, ...], spec: Any, axes: dict) -> None:
    """The errors jax would raise later, said with the leaf's path."""
    if len(spec) > len(shape):
        raise ValueError(
            f"{fn}: the partition spec {spec!r} of the leaf at path {path!r} has "
            f"{len(spec)} entries, but the leaf has {len(shape)} dimensions {shape}."
        )
    for dim, entry in enumerate(spec):
        names = spec_axes(entry)
        for name in names:
            if name not in axes:
                raise ValueError(
                    f"{fn}: the partition spec {spec!r} of the leaf at path {path!r} names "
                    f"the axis {name!r}, which the mesh does not have; its axes: "
                    f"{tuple(axes)}."
                )
        ways = math.prod(axes[name] for name in names)
        if shape[dim] % ways:
            raise ValueError(
                f"{fn}: the leaf at path {path!r} (shape {shape}) cannot be laid out as "
                f"{spec!r}: dimension {dim} ({shape[dim]}) is split {ways} ways by "
                f"{names}, which does not divide it; jax lays out only even shards (pad "
                "the dimension or shard it over other axes)."
            )


def spec_axes(entry: Any) -> tuple[str, ...]:
    """The mesh axes of one entry of a PartitionSpec."""
    if entry is None:
        return ()
    if isinstance(entry, str):
        return (entry,)
    return tuple(entry)


def _check_layout_possible(fn: str, sharding: Any) -> None:
    """Raises where this jax would lay the leaf out otherwise than asked (jit's
    ``out_shardings`` on Explicit mesh axes before jax 0.7)."""
    if not compat.JIT_EXPLICIT_OUT_SHARDINGS and compat.explicit_axes(sharding.mesh):
        raise compat.too_old(f"{fn}: a leaf sharded over Explicit mesh axes", (0, 7))


def _named(sharding: Any) -> NamedSharding | None:
    """The sharding to sample into; other shardings only place the jit's output."""
    return sharding if isinstance(sharding, NamedSharding) else None


def _concrete(sharding: Any) -> Any:
    """Shardings jit can lay outputs out with (an abstract mesh has no devices)."""
    if isinstance(sharding, NamedSharding) and not isinstance(sharding.mesh, jax.sharding.Mesh):
        return None
    return sharding


def _group_of(step: tuple) -> tuple:
    """What a leaf's draw depends on besides its key: (init, shape, dtype, sharding)."""
    _, init, shape, dtype, sharding = step
    try:
        hash(init)
    except TypeError:  # an unhashable initializer groups only with itself
        init = _ById(init)
    return (init, shape, dtype, sharding)


class _ById:
    """Wraps an unhashable initializer so that it groups (and caches) by identity."""

    def __init__(self, init: Any) -> None:
        self.init = init

    def __hash__(self) -> int:
        return id(self.init)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ById) and other.init is self.init

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.init(*args, **kwargs)


#: A group's stack is at most this many bytes, or `_STACK_SHARE` of the tree's, if more.
_STACK_FLOOR = 256 * 2**20
#: ... the tree's bytes over this: eagerly, the peak is the tree plus one stack (6%).
_STACK_SHARE = 16


def _stack_limit(plan: tuple) -> int:
    """The most bytes one group's stack may hold (see `_STACK_FLOOR`)."""
    total = sum(math.prod(step[2]) * step[3].itemsize for step in plan)
    return max(_STACK_FLOOR, total // _STACK_SHARE)


def _groups(plan: tuple) -> tuple[tuple, tuple, tuple]:
    """Groups the steps of ``plan`` by `_group_of`.

    Returns ``(groups, order, words)``: one ``(init, shape, dtype, sharding, n)``
    per group in order of first appearance, the ``(group, member)`` of every step
    in plan order, and per group the ``(n, 2)`` uint32 array of its path words.
    ``groups`` and ``order`` are all a compiled function depends on; the words
    are its data. A group whose stack would pass `_stack_limit` is cut into
    consecutive groups that stay within it (each leaf drawn eagerly is first a
    member of its stack, so the largest stack is the memory a draw needs beyond
    the tree's own: for Llama-3-8B in bfloat16 the gate and up projections of all
    32 layers would be one 7 GiB stack).
    """
    members: dict[tuple, list[int]] = {}
    for index, step in enumerate(plan):
        group = _group_of(step)
        if group[3] is not None and not isinstance(group[3], NamedSharding):
            group = (*group, index)  # no stacked layout for other shardings: a group of one
        members.setdefault(group, []).append(index)
    limit = _stack_limit(plan)
    chunks = []
    for group, indices in members.items():
        size = max(1, limit // max(1, math.prod(group[1]) * group[2].itemsize))
        chunks += [(group, indices[i : i + size]) for i in range(0, len(indices), size)]
    groups = tuple((*group[:4], len(indices)) for group, indices in chunks)
    order: list[tuple[int, int]] = [(0, 0)] * len(plan)
    for number, (_, indices) in enumerate(chunks):
        for member, index in enumerate(indices):
            order[index] = (number, member)
    words = tuple(
        np.array([plan[i][0] for i in indices], dtype=np.uint32).reshape(len(indices), 2)
        for _, indices in chunks
    )
    return groups, tuple(order), words


def _draw_group(key: jax.Array, words: jax.Array, group: tuple) -> jax.Array:
    """The leaves of one group, stacked on a new leading axis (``n == 1``: the leaf).

    One draw vmapped over the members' path words. Inside the vmap each draw
    keeps its own sharding, so the stack is laid out ``(None, *spec)``: every
    device computes only its shard of every member.
    """
    init, shape, dtype, sharding, n = group

    def draw(w):
        return placement.sample_into(init, _fold(key, (w[0], w[1])), shape, dtype, _named(sharding))

    return draw(words[0]) if n == 1 else jax.vmap(draw)(words)


def _draw_one(key: jax.Array, word: jax.Array, group: tuple) -> jax.Array:
    """One member of a group, drawn alone (the function `_draw_group` vmaps)."""
    init, shape, dtype, sharding, _ = group
    return placement.sample_into(
        init, _fold(key, (word[0], word[1])), shape, dtype, _named(sharding)
    )


def _stacked_sharding(sharding: Any) -> Any:
    """The layout of a group's stack: the members' layout behind an unsharded axis."""
    concrete = _concrete(sharding)
    if concrete is None:
        return None
    return NamedSharding(concrete.mesh, PartitionSpec(None, *concrete.spec))


def _build(groups: tuple, order: tuple, split: bool):
    """One jitted function drawing every group of a plan (shared by equal plans).

    Its arguments are the root key, the path words of each group (data, not
    constants: equal structures share the executable) and the buffers to
    donate. With ``split`` it returns one output per leaf, in plan order (and
    donates its third argument); without, one output per group: the member
    itself (``n == 1``) or the members stacked, which `_run` splits with
    one small executable per group. XLA's compile time grows with the number of
    outputs, so the stacked form keeps it to the number of groups.
    """

    def create(key, words, old):
        del old  # only donated, so that the outputs can reuse its buffers
        key = _threefry_root(key)
        if not split:
            return tuple(_draw_group(key, w, group) for w, group in zip(words, groups, strict=True))
        # One draw per leaf, the same function of the leaf's key: no stacked temporary,
        # so a sharded tree under an outer jit (or donated) needs its leaves' memory only.
        return tuple(_draw_one(key, words[g][m], groups[g]) for g, m in order)

    if split:
        out_shardings = tuple(_concrete(groups[g][3]) for g, _ in order)
    else:
        out_shardings = tuple(
            _concrete(group[3]) if group[4] == 1 else _stacked_sharding(group[3])
            for group in groups
        )
    # keep_unused: a donated buffer the result does not read must still reach XLA to be reused.
    return jax.jit(
        create,
        out_shardings=out_shardings,
        donate_argnums=(2,) if split else (),
        keep_unused=split,
    )


_build_cached = caches.lru("tree.build", 128)(_build)


@caches.lru("tree.member", 256)
def _member(sharding: Any):
    """``stack[i]`` laid out as ``sharding``: one executable for every member of a group.

    (One executable returning every member at once compiles one output per
    leaf, which is what grouping avoids: 12 s instead of 2.7 s cold for the
    64-layer benchmark spec.)
    """
    return jax.jit(
        lambda stack, i: jax.lax.dynamic_index_in_dim(stack, i, keepdims=False),
        out_shardings=_concrete(sharding),
    )


def _run(plan: tuple, key: jax.Array, old: tuple, donate: bool) -> tuple:
    """Creates the leaves of ``plan`` (in its order) from the root ``key``.

    Eagerly, each group's stack is split by one small executable (shared by the
    group's members) and dropped once split (peak memory: the parameters plus
    the largest group). Under an outer trace, or when donating, the draw returns
    the leaves itself. The path words and member indices go to the device
    explicitly (no implicit transfer: the call works under
    ``jax.transfer_guard("disallow")``).
    """
    groups, order, words = _groups(plan)
    split = donate or isinstance(key, jax.core.Tracer)  # pyright: ignore[reportAttributeAccessIssue]
    fn = _build_cached(groups, order, split)
    out = fn(key, words if split else jax.device_put(words), old)
    if split:
        return out
    members: list[list[int]] = [[] for _ in groups]
    for index, (g, _) in enumerate(order):
        members[g].append(index)
    leaves: list[Any] = [None] * len(order)
    stacks = list(out)
    del out
    for g, group in enumerate(groups):
        stack, stacks[g] = stacks[g], None
        if group[4] == 1:
            leaves[members[g][0]] = stack
            continue
        take = _member(group[3])
        # The member indices go to the device explicitly, in one transfer.
        numbers = jax.device_put([np.int32(m) for m in range(group[4])])
        for index, number in zip(members[g], numbers, strict=True):
            leaves[index] = take(stack, number)
        del stack
    return tuple(leaves)


def _run_named(fn: str, plan: tuple, paths: list[str], key: jax.Array, old: tuple, donate: bool):
    """`_run`; an initializer's error (a shape it cannot draw) names the leaf's path."""
    try:
        return _run(plan, key, old, donate)
    except (ValueError, TypeError):
        for path, (_, init, shape, dtype, _) in zip(paths, plan, strict=True):
            try:
                jax.eval_shape(lambda k, i=init, s=shape, d=dtype: i(k, s, d), key)
            except (ValueError, TypeError) as own:
                raise type(own)(
                    f"{fn}: the rule for the leaf at path {path!r} (shape {shape}, dtype "
                    f"{dtype.name}) cannot draw it: {own}"
                ) from own
        raise


def _plan(fn, rules, paths_leaves, shardings):
    """One step (words, init, shape, dtype, sharding) per array leaf; non-arrays: None."""
    seen: dict[str, int] = {}
    check_stacks(fn, rules, [path for path, _ in paths_leaves])
    leaves_by_path = {path: leaf for path, leaf in paths_leaves if _is_array_like(leaf)}
    steps = []
    for index, (path, leaf) in enumerate(paths_leaves):
        if not _is_array_like(leaf):
            steps.append(None)
            continue
        if path in seen:
            raise ValueError(
                f"{fn}: two leaves have the same path {path!r} (leaves {seen[path]} and "
                f"{index}), so they would draw the same key; rename one (a dict key "
                "containing '/' is the usual cause)."
            )
        seen[path] = index
        init = _first_match(fn, rules, path, leaf)
        if isinstance(init, Deferred):
            init = init.resolve(fn, path, leaves_by_path)
        dtype = np.dtype(leaf.dtype)
        sharding = _resolve(fn, path, shardings[index])
        if isinstance(sharding, NamedSharding):
            check_spec(fn, path, tuple(leaf.shape), sharding.spec, dict(sharding.mesh.shape))
        steps.append((path_words(path), init, tuple(leaf.shape), dtype, sharding))
    return steps


def _sharding_leaves(fn: str, out_shardings: Any, treedef, leaves: list, default) -> list:
    if out_shardings is None:
        return [default(leaf) for leaf in leaves]
    if isinstance(out_shardings, (Sharding, PartitionSpec)):
        return [out_shardings] * len(leaves)
    try:
        return treedef.flatten_up_to(out_shardings)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{fn}: `out_shardings` must be one sharding for every leaf or a pytree with "
            f"the structure of the parameters; it does not match: {error}"
        ) from None


_KINDS = (
    ("bool", np.bool_),
    ("unsigned integer", np.unsignedinteger),
    ("signed integer", np.signedinteger),
    ("complex", np.complexfloating),
    ("floating", np.floating),
)


def _kind(dtype: Any) -> str:
    for name, kind in _KINDS:
        if jnp.issubdtype(dtype, kind):
            return name
    return np.dtype(dtype).name


def _known_leaves(
    fn: str, known: Any, force: Any, paths: list[str], leaves: list, shardings: list
) -> dict[int, jax.Array]:
    """The known leaves to use as they are: spec index -> the leaf, cast and placed.

    Every path of ``known`` must be a spec path; leaves whose path matches a
    ``force`` pattern are left out (drawn anyway).
    """
    if isinstance(force, (str, re.Pattern)) or not isinstance(force, Sequence):
        raise TypeError(f"{fn}: `force` must be a sequence of patterns, got {force!r}.")
    if known is None:
        return {}
    patterns = [
        pattern for pattern, _ in _rule_list(fn, [(p, None) for p in force], allow_keep=True)
    ]
    index = {path: i for i, path in enumerate(paths)}
    out = {}
    for path, value in zip(*flatten(known)[:2], strict=True):
        if path not in index:
            raise ValueError(
                f"{fn}: the known leaf at path {path!r} is not in `spec`; "
                "remove it from `known` or add it to the spec."
            )
        i = index[path]
        want = leaves[i]
        if any(_matches(pattern, path, want) for pattern in patterns):
            continue
        if not _is_array_like(value):
            raise TypeError(
                f"{fn}: the known leaf at path {path!r} must be an array, got {value!r}."
            )
        if tuple(value.shape) != tuple(want.shape):
            raise ValueError(
                f"{fn}: the known leaf at path {path!r} has shape {tuple(value.shape)}, "
                f"but `spec` wants {tuple(want.shape)}."
            )
        if _kind(value.dtype) != _kind(want.dtype):
            raise TypeError(
                f"{fn}: the known leaf at path {path!r} has dtype {np.dtype(value.dtype).name} "
                f"({_kind(value.dtype)}), but `spec` wants {np.dtype(want.dtype).name} "
                f"({_kind(want.dtype)}); only casts within a kind are made."
            )
        out[i] = _place_known(value, want.dtype, _resolve(fn, path, shardings[i]))
    return out


def _place_known(value: Any, dtype: Any, sharding: Any) -> jax.Array:
    """A known leaf cast to ``dtype`` and laid out as ``sharding``, with explicit
    transfers only. A jax.Array stays where it is when it is laid out so already
    (arrays of several processes, e.g. restored by orbax, are never gathered:
    each process keeps its shards); a host value goes to the device first."""
    if isinstance(value, jax.Array):
        array = value if value.dtype == dtype else value.astype(dtype)
    else:
        array = jax.device_put(value).astype(dtype)
    if sharding is None:
        return array
    concrete = _concrete(sharding)
    if concrete is not None and array.sharding.is_equivalent_to(concrete, array.ndim):
        return array
    return jax.device_put(array, concrete or sharding)


def init(
    key: jax.Array,
    spec: Any,
    rules: Rules,
    *,
    out_shardings: Any = None,
    known: Any = None,
    force: Sequence[Pattern] = (),
) -> Any:
    """Creates a parameter tree from a spec, one initializer per leaf chosen by rules.

    Args:
      key: The root PRNG key; each leaf draws from `leaf_key` of its path.
      spec: A pytree whose leaves are ``jax.ShapeDtypeStruct`` (e.g. from
        ``jax.eval_shape``) or arrays; only their shape, dtype and sharding are used.
      rules: ``(pattern, initializer)`` pairs, or a mapping, tried in order; the
        first pattern that matches a leaf's path wins. A pattern is a glob string
        matched against the whole path with ``fnmatch`` (``*`` also crosses "/",
        so ``"*bias"`` matches every bias), a compiled regex (``re.compile``,
        full match) or a predicate ``(path, leaf) -> bool``. Initializers are
        any ``init(key, shape, dtype)``: jax_inits, jax.nn.initializers, your own,
        or a `deferred`/`sibling` value built per leaf from its path
        or another leaf's shape.
      out_shardings: Layout of the result: one ``Sharding``/``PartitionSpec`` for
        all leaves or a pytree matching ``spec``. ``None`` uses each spec leaf's
        ``sharding`` attribute (unsharded if it has none).
      known: Leaves whose values are already known (e.g. restored from a
        checkpoint): a partial pytree matched to ``spec`` by path strings.
        Each must have its spec leaf's shape and a dtype of the same kind
        (float, complex, signed, unsigned, bool; cast to the spec's dtype);
        it is placed into the leaf's sharding and never drawn, and needs no
        rule. A path that is not in ``spec`` is an error.
      force: Patterns (as in ``rules``) of known leaves to draw anyway, e.g.
        ``["head/*"]`` to re-initialize a classifier head that the checkpoint has.

    Returns:
      A pytree of the structure of ``spec`` with arrays of its shapes and dtypes,
      the drawn ones created by one ``jax.jit``-compiled function. jax_inits initializers
      sample straight into a ``NamedSharding`` (each device computes only its
      shard); other initializers are sampled and then constrained to it.

    Raises:
      TypeError: If ``key``, ``rules`` or a spec leaf has the wrong type, or a
        known leaf's dtype is of another kind than its spec leaf's.
      ValueError: If no rule matches a leaf to draw, two leaves share a path
        string, or a known leaf's path is not in ``spec`` or its shape differs.

    Examples:
      >>> import jax_inits.tree
      >>> spec = {
      ...     "dense": {"kernel": jax.ShapeDtypeStruct((64, 32), jnp.float32),
      ...               "bias": jax.ShapeDtypeStruct((32,), jnp.float32)}}
      >>> rules = [("*/kernel", jax_inits.he_normal()), ("*/bias", jax_inits.zeros)]
      >>> params = jax_inits.tree.init(jax.random.key(0), spec, rules)
      >>> params["dense"]["kernel"].shape, float(params["dense"]["bias"].sum())
      ((64, 32), 0.0)
    """
    return init_reporting(key, spec, rules, out_shardings=out_shardings, known=known, force=force)[
        0
    ]


def init_reporting(
    key: jax.Array,
    spec: Any,
    rules: Rules,
    *,
    out_shardings: Any = None,
    known: Any = None,
    force: Sequence[Pattern] = (),
) -> tuple[Any, list[str]]:
    """`init`, and the paths of the leaves it drew (not taken from ``known``), in order."""
    _check_key("tree.init", key)
    rule_list = _rule_list("tree.init", rules, allow_keep=False)
    paths, leaves, treedef = flatten(spec)
    for path, leaf in zip(paths, leaves, strict=True):
        if not _is_array_like(leaf):
            raise TypeError(
                f"tree.init: `spec` leaves must be jax.ShapeDtypeStruct or arrays, got "
                f"{leaf!r} at path {path!r}."
            )
    shardings = _sharding_leaves(
        "tree.init", out_shardings, treedef, leaves, lambda leaf: getattr(leaf, "sharding", None)
    )
    given = _known_leaves("tree.init", known, force, paths, leaves, shardings)
    steps = _plan(
        "tree.init",
        rule_list,
        [(path, None if i in given else leaves[i]) for i, path in enumerate(paths)],
        shardings,
    )
    drawn = [i for i, step in enumerate(steps) if step is not None]
    out = [given.get(i) for i in range(len(leaves))]
    plan = tuple(steps[i] for i in drawn)
    new = _run_named("tree.init", plan, [paths[i] for i in drawn], key, (), False) if drawn else ()
    for i, value in zip(drawn, new, strict=True):
        out[i] = value
    return jax.tree_util.tree_unflatten(treedef, out), [paths[i] for i in drawn]


def _only(fn: str, only: Any, paths: list[str], leaves: list) -> set[int] | None:
    """The indices of the array leaves ``only`` selects (``None``: all of them).

    ``only`` is a sequence of patterns as in rules; matching no array leaf is an error.
    """
    if only is None:
        return None
    if isinstance(only, (str, re.Pattern)) or not isinstance(only, Sequence):
        raise TypeError(f"{fn}: `only` must be a sequence of patterns, got {only!r}.")
    patterns = [p for p, _ in _rule_list(fn, [(p, None) for p in only], allow_keep=True)]
    chosen = {
        i
        for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True))
        if _is_array_like(leaf) and any(_matches(p, path, leaf) for p in patterns)
    }
    if not chosen:
        raise ValueError(
            f"{fn}: `only` ({', '.join(_describe_pattern(p) for p in patterns) or 'empty'}) "
            f"matches no array leaf; the paths are {paths[:8]}"
            + (f" and {len(paths) - 8} more." if len(paths) > 8 else ".")
        )
    return chosen


def reinit(
    params: Any,
    key: jax.Array,
    rules: Rules,
    *,
    donate: bool = False,
    out_shardings: Any = None,
    only: Sequence[Pattern] | None = None,
) -> Any:
    """Re-initialises the array leaves of ``params`` by rules (see `init`).

    Leaves keep their shape, dtype and sharding (single-device leaves are put
    back on their device); a leaf gets the same values as
    `init` gives it for the same key and path. A rule may map to ``None``
    to keep the matching leaves as they are. Leaves that are not arrays
    (functions and flags inside an ``equinox.Module``, say) are passed through.

    Args:
      params: A pytree of parameters (dicts, Flax/nnx states, equinox modules).
      key: The root PRNG key.
      rules: As for `init`; an initializer may be ``None`` (keep).
      donate: Donate the old buffers of the re-initialised leaves to the jitted
        call, so that the new values reuse their memory (peak memory stays at
        one copy of the parameters); those old arrays are deleted. Kept leaves
        are returned as they are, never copied.
      out_shardings: As for `init`; ``None`` keeps each array's sharding.
      only: Patterns (as in ``rules``) of the leaves to re-initialise; every other
        leaf is returned as it is and needs no rule. ``None``: all leaves.

    Returns:
      A pytree of the structure of ``params``.

    Raises:
      TypeError: If ``key``, ``rules`` or ``only`` has the wrong type.
      ValueError: If no rule matches an array leaf to re-initialise, two leaves
        share a path, or ``only`` matches no array leaf.

    Examples:
      >>> import jax_inits.tree
      >>> params = {"w": jnp.zeros((3, 4)), "b": jnp.ones(4)}
      >>> new = jax_inits.tree.reinit(
      ...     params, jax.random.key(0), [("w", jax_inits.glorot_uniform()), ("b", None)])
      >>> bool((new["w"] != 0).all()), float(new["b"].sum())
      (True, 4.0)
    """
    return reinit_as(
        "tree.reinit", params, key, rules, donate=donate, out_shardings=out_shardings, only=only
    )


def reinit_as(
    fn: str,
    params: Any,
    key: jax.Array,
    rules: Rules,
    *,
    donate: bool = False,
    out_shardings: Any = None,
    only: Sequence[Pattern] | None = None,
) -> Any:
    """`reinit`, its errors naming ``fn`` (the public function called)."""
    _check_key(fn, key)
    rule_list = _rule_list(fn, rules, allow_keep=True)
    paths, leaves, treedef = flatten(params)

    def current(leaf):
        # Single-device placements are restored after the call: one jit cannot lay
        # outputs out on a mesh and on a lone device at once.
        sharding = getattr(leaf, "sharding", None)
        return sharding if isinstance(sharding, NamedSharding) else None

    shardings = _sharding_leaves(fn, out_shardings, treedef, leaves, current)
    chosen = _only(fn, only, paths, leaves)
    steps = _plan(
        fn,
        rule_list,
        [
            (path, leaf if chosen is None or i in chosen else None)
            for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True))
        ],
        shardings,
    )
    # Kept leaves (rule -> None) and non-arrays never enter the jitted call.
    fresh = [i for i, step in enumerate(steps) if step is not None and step[1] is not None]
    plan = tuple(steps[i] for i in fresh)
    old = tuple(leaves[i] for i in fresh) if donate else ()
    new = _run_named(fn, plan, [paths[i] for i in fresh], key, old, donate)
    out = list(leaves)
    for i, value in zip(fresh, new, strict=True):
        placed = getattr(leaves[i], "sharding", None)
        if out_shardings is None and isinstance(leaves[i], jax.Array):
            placed = cast(jax.sharding.Sharding, placed)  # every jax.Array has one
            if not placed.is_equivalent_to(value.sharding, value.ndim):
                value = jax.device_put(value, placed)
        out[i] = value
    return jax.tree_util.tree_unflatten(treedef, out)


# ----------------------------------------------------------------------------- fingerprint


def fingerprint(params: Any) -> str:
    """A SHA-256 hex digest of every array leaf's path, dtype, shape and bytes.

    Pin init values in a test with it: equal digests mean equal paths, dtypes,
    shapes and bits, whatever the arrays' sharding or devices. Leaves are taken
    in the order of their path strings (sorted); for each, four length-prefixed
    fields are hashed: the path, the dtype name, ``repr(shape)`` (UTF-8) and the
    C-order bytes of the value; a length prefix is 8 bytes, little-endian.

    Args:
      params: A pytree whose leaves are arrays (jax, numpy); ``None`` is an
        empty subtree, as in jax.

    Returns:
      The 64-character hex digest.

    Raises:
      TypeError: If a leaf is not an array.
      ValueError: If an array is not fully addressable by this process (a
        multi-process sharded array: fingerprint
        ``jax.experimental.multihost_utils.process_allgather`` of it instead).

    Examples:
      >>> import jax_inits.tree
      >>> jax_inits.tree.fingerprint({"w": jnp.zeros(2)})[:16]
      '307a42388258309a'
    """
    paths, leaves, _ = flatten(params)
    digest = hashlib.sha256()
    for path, leaf in sorted(zip(paths, leaves, strict=True), key=lambda item: item[0]):
        if not _is_array_like(leaf):
            raise TypeError(
                f"tree.fingerprint: the leaf at path {path!r} must be an array, got {leaf!r}."
            )
        if not getattr(leaf, "is_fully_addressable", True):
            raise ValueError(
                f"tree.fingerprint: the array at path {path!r} is not fully addressable by "
                "this process, so its bytes cannot be read here; fingerprint "
                "jax.experimental.multihost_utils.process_allgather(params) instead."
            )
        value = np.ascontiguousarray(np.asarray(leaf))
        for field in (path, value.dtype.name, repr(value.shape)):
            data = field.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little") + data)
        raw = value.tobytes()
        digest.update(len(raw).to_bytes(8, "little") + raw)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- LSUV


def _lsuv_targets(weights: Any, params: Any) -> tuple[list[str], list[Any], Any, list[int]]:
    """`flatten(params)` and the index of the one array leaf each ``weights`` pattern matches."""
    if isinstance(weights, (str, re.Pattern)) or not isinstance(weights, Sequence):
        raise TypeError(
            f"lsuv: `weights` must be a sequence of patterns, one per layer, got {weights!r}."
        )
    paths, leaves, treedef = flatten(params)
    targets = []
    for pattern in weights:
        _rule_list("lsuv", [(pattern, None)], allow_keep=True)
        hits = [
            i
            for i, leaf in enumerate(leaves)
            if _is_array_like(leaf) and _matches(pattern, paths[i], leaf)
        ]
        if len(hits) != 1:
            found = [paths[i] for i in hits] or "none"
            raise ValueError(
                f"lsuv: each pattern in `weights` must match exactly one array leaf; "
                f"{_describe_pattern(pattern)} matches {found}."
            )
        targets.append(hits[0])
    return paths, leaves, treedef, targets


def _lsuv_variance(variances: Sequence[Any], n_layers: int, layer: int, path: str) -> float:
    """Layer ``layer``'s output variance, checked: one output per layer, finite and > 0."""
    if len(variances) != n_layers:
        raise ValueError(
            f"lsuv: `apply_fn` must return one output per entry of `weights` "
            f"({n_layers}), got {len(variances)}."
        )
    var = float(variances[layer])
    if not (math.isfinite(var) and var > 0):
        raise ValueError(
            f"lsuv: the output of layer {layer} (weight {path!r}) has "
            f"variance {var!r}; it must be finite and > 0 to be rescaled."
        )
    return var


def lsuv(
    apply_fn: Callable[[Any, Any], Sequence[Any]],
    params: Any,
    batch: Any,
    weights: Sequence[Pattern],
    *,
    target_var: float = 1.0,
    tol: float = 0.1,
    max_iters: int = 10,
) -> Any:
    r"""Layer-sequential unit-variance (LSUV) rescaling of pre-initialised weights.

    For each layer in order, runs ``apply_fn`` on ``batch`` and divides the
    layer's weight by $\sqrt{\mathrm{Var}[y] / v}$, with $y$ the
    layer's output and $v$ = ``target_var``, until
    $|\mathrm{Var}[y] - v| <$ ``tol`` or ``max_iters`` passes (Mishkin and
    Matas, Algorithm 1). Start from orthogonal weights, as the paper does, e.g.
    `init` with ``jax_inits.orthogonal()`` for the kernels. Biases are not
    changed. Pure: ``params`` is not modified, the rescaled tree is returned.

    Args:
      apply_fn: ``apply_fn(params, batch)`` returns a sequence with the output of
        each layer to normalise (pre-activation), in the order of ``weights``.
        It is compiled once with ``jax.jit``.
      params: The parameter pytree.
      batch: The input (any pytree) ``apply_fn`` takes, e.g. a few hundred samples.
      weights: One pattern per layer (glob string, compiled regex or predicate,
        as in `init`), each matching exactly one array leaf: the weight
        to rescale.
      target_var: Variance each layer's output should have; > 0.
      tol: Stop a layer once ``|Var - target_var| < tol``; > 0.
      max_iters: Forward passes per layer at most; >= 1.

    Returns:
      ``params`` with the matched weights rescaled.

    Raises:
      TypeError: If an argument has the wrong type.
      ValueError: If a pattern matches no leaf or several, ``apply_fn`` returns
        the wrong number of outputs, or a layer's output has zero or non-finite
        variance.

    Examples:
      >>> import jax_inits.tree
      >>> x = jax.random.normal(jax.random.key(1), (256, 16))
      >>> params = {"l1": jnp.full((16, 32), 0.5), "l2": jnp.full((32, 8), 0.5)}
      >>> def apply(p, x):
      ...     h = x @ p["l1"]
      ...     return [h, jnp.tanh(h) @ p["l2"]]
      >>> params = jax_inits.tree.init(
      ...     jax.random.key(0), params, [("*", jax_inits.orthogonal())])
      >>> params = jax_inits.tree.lsuv(apply, params, x, ["l1", "l2"])
      >>> [round(float(y.var()), 1) for y in apply(params, x)]
      [1.0, 1.0]

    References:
      Mishkin and Matas, [All you need is a good init](https://arxiv.org/abs/1511.06422), 2015.
    """
    if not callable(apply_fn):
        raise TypeError(f"lsuv: `apply_fn` must be callable, got {apply_fn!r}.")
    target_var = checks.real_number("lsuv", "target_var", target_var, minimum=0, strict=True)
    tol = checks.real_number("lsuv", "tol", tol, minimum=0, strict=True)
    max_iters = checks.integer("lsuv", "max_iters", max_iters)
    if max_iters < 1:
        raise ValueError(f"lsuv: `max_iters` must be >= 1, got {max_iters!r}.")
    paths, leaves, treedef, targets = _lsuv_targets(weights, params)
    forward = jax.jit(lambda p, b: [jnp.var(y) for y in apply_fn(p, b)])
    for layer, index in enumerate(targets):
        for _ in range(max_iters):
            variances = forward(jax.tree_util.tree_unflatten(treedef, leaves), batch)
            var = _lsuv_variance(variances, len(targets), layer, paths[index])
            if abs(var - target_var) < tol:
                break
            weight = jnp.asarray(leaves[index])
            leaves[index] = (weight * math.sqrt(target_var / var)).astype(weight.dtype)
    return jax.tree_util.tree_unflatten(treedef, leaves)
