"""Whole-tree parameter creation: rules from leaf paths to initializers.

A leaf's path is its pytree key path written as a string, the keys joined with
"/" (``{"dense": {"kernel": w}}`` -> ``"dense/kernel"``, list items by index,
attributes by name; a Flax nnx ``Variable`` is named by its own path). Rules
map paths to initializers; the first rule that matches a leaf decides it.

Each leaf draws from its own key, derived from the root key and the path string
alone (never from the leaf's position), so adding, removing or reordering other
leaves leaves its values unchanged::

    digest = BLAKE2b(path.encode("utf-8"), digest_size=8)
    w0, w1 = the two little-endian uint32 words of digest
    leaf_key = fold_in(fold_in(key, w0), w1)

The digest is 64 bits, so two distinct paths of an n-leaf tree share a key with
probability about n^2 / 2^65; two leaves with the same path string (a dict key
that contains "/") are an error.
"""

from __future__ import annotations

import fnmatch
import functools
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

from jax_inits._src import base, checks, placement

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


def _fold(key: jax.Array, words: tuple[np.uint32, np.uint32]) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(key, words[0]), words[1])


def leaf_key(key: jax.Array, path: str) -> jax.Array:
    """Derives the key of the leaf at ``path`` from the root ``key``.

    ``fold_in(fold_in(key, w0), w1)`` with ``w0, w1`` the little-endian uint32
    words of the 8-byte BLAKE2b digest of the UTF-8 path: the key depends on
    the path string alone, not on the leaf's position or on Python's ``hash``.

    Args:
      key: The root PRNG key given to :func:`init` or :func:`reinit`.
      path: The leaf's "/"-joined path, e.g. ``"encoder/layers/0/kernel"``.

    Returns:
      The key :func:`init` gives to the leaf's initializer.

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
    return _fold(key, path_words(path))


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
        if init is None and allow_keep:
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


# ----------------------------------------------------------------------------- creation


def _is_array_like(leaf: Any) -> bool:
    return hasattr(leaf, "shape") and hasattr(leaf, "dtype")


def _resolve(fn: str, path: str, sharding: Any) -> Any:
    """A leaf's sharding as given to the initializer: NamedSharding, other Sharding or None."""
    if sharding is None or isinstance(sharding, NamedSharding):
        return sharding
    if isinstance(sharding, PartitionSpec):
        if jax.sharding.get_abstract_mesh().empty:
            raise ValueError(
                f"{fn}: the sharding {sharding!r} of the leaf at path {path!r} is a "
                "PartitionSpec, which needs a mesh: call inside `with jax.set_mesh(mesh):` "
                "or give a NamedSharding."
            )
        return base.resolve_sharding(fn, sharding)
    if isinstance(sharding, Sharding):
        return sharding
    raise TypeError(
        f"{fn}: a leaf's sharding must be a jax.sharding.Sharding, a PartitionSpec or "
        f"None, got {sharding!r}."
    )


def _named(sharding: Any) -> NamedSharding | None:
    """The sharding to sample into; other shardings only place the jit's output."""
    return sharding if isinstance(sharding, NamedSharding) else None


def _concrete(sharding: Any) -> Any:
    """Shardings jit can lay outputs out with (an abstract mesh has no devices)."""
    if isinstance(sharding, NamedSharding) and not isinstance(sharding.mesh, jax.sharding.Mesh):
        return None
    return sharding


def _build(plan: tuple, donate: bool):
    """One jitted function creating every leaf of ``plan`` (shared by equal plans)."""

    def create(key, old):
        del old  # only donated, so that the outputs can reuse its buffers
        return tuple(
            placement.sample_into(init, _fold(key, words), shape, dtype, _named(sharding))
            for words, init, shape, dtype, sharding in plan
        )

    out_shardings = tuple(_concrete(step[4]) for step in plan)
    # keep_unused: a donated buffer the result does not read must still reach XLA to be reused.
    return jax.jit(
        create,
        out_shardings=out_shardings,
        donate_argnums=(1,) if donate else (),
        keep_unused=donate,
    )


_build_cached = functools.lru_cache(maxsize=128)(_build)


def _run(plan: tuple, key: jax.Array, old: tuple, donate: bool) -> tuple:
    try:
        fn = _build_cached(plan, donate)
    except TypeError:  # an unhashable initializer: build without sharing
        fn = _build(plan, donate)
    return fn(key, old)


def _plan(fn, rules, paths_leaves, shardings):
    """One step (words, init, shape, dtype, sharding) per array leaf; non-arrays: None."""
    seen: dict[str, int] = {}
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
        dtype = np.dtype(leaf.dtype)
        sharding = _resolve(fn, path, shardings[index])
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


def init(key: jax.Array, spec: Any, rules: Rules, *, out_shardings: Any = None) -> Any:
    """Creates a parameter tree from a spec, one initializer per leaf chosen by rules.

    Args:
      key: The root PRNG key; each leaf draws from :func:`leaf_key` of its path.
      spec: A pytree whose leaves are ``jax.ShapeDtypeStruct`` (e.g. from
        ``jax.eval_shape``) or arrays; only their shape, dtype and sharding are used.
      rules: ``(pattern, initializer)`` pairs, or a mapping, tried in order; the
        first pattern that matches a leaf's path wins. A pattern is a glob string
        matched against the whole path with ``fnmatch`` (``*`` also crosses "/",
        so ``"*bias"`` matches every bias), a compiled regex (``re.compile``,
        full match) or a predicate ``(path, leaf) -> bool``. Initializers are
        any ``init(key, shape, dtype)``: jax_inits, jax.nn.initializers, your own.
      out_shardings: Layout of the result: one ``Sharding``/``PartitionSpec`` for
        all leaves or a pytree matching ``spec``. ``None`` uses each spec leaf's
        ``sharding`` attribute (unsharded if it has none).

    Returns:
      A pytree of the structure of ``spec`` with arrays of its shapes and dtypes,
      all created by one ``jax.jit``-compiled function. jax_inits initializers
      sample straight into a ``NamedSharding`` (each device computes only its
      shard); other initializers are sampled and then constrained to it.

    Raises:
      TypeError: If ``key``, ``rules`` or a spec leaf has the wrong type.
      ValueError: If no rule matches a leaf, or two leaves share a path string.

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
    steps = _plan(
        "tree.init",
        rule_list,
        list(zip(paths, leaves, strict=True)),
        shardings,
    )
    out = _run(tuple(steps), key, (), donate=False)
    return jax.tree_util.tree_unflatten(treedef, out)


def reinit(
    params: Any, key: jax.Array, rules: Rules, *, donate: bool = False, out_shardings: Any = None
) -> Any:
    """Re-initialises the array leaves of ``params`` by rules (see :func:`init`).

    Leaves keep their shape, dtype and sharding (single-device leaves are put
    back on their device); a leaf gets the same values as
    :func:`init` gives it for the same key and path. A rule may map to ``None``
    to keep the matching leaves as they are. Leaves that are not arrays
    (functions and flags inside an ``equinox.Module``, say) are passed through.

    Args:
      params: A pytree of parameters (dicts, Flax/nnx states, equinox modules).
      key: The root PRNG key.
      rules: As for :func:`init`; an initializer may be ``None`` (keep).
      donate: Donate the old buffers of the re-initialised leaves to the jitted
        call, so that the new values reuse their memory (peak memory stays at
        one copy of the parameters); those old arrays are deleted. Kept leaves
        are returned as they are, never copied.
      out_shardings: As for :func:`init`; ``None`` keeps each array's sharding.

    Returns:
      A pytree of the structure of ``params``.

    Raises:
      TypeError: If ``key`` or ``rules`` has the wrong type.
      ValueError: If no rule matches an array leaf, or two leaves share a path.

    Examples:
      >>> import jax_inits.tree
      >>> params = {"w": jnp.zeros((3, 4)), "b": jnp.ones(4)}
      >>> new = jax_inits.tree.reinit(
      ...     params, jax.random.key(0), [("w", jax_inits.glorot_uniform()), ("b", None)])
      >>> bool((new["w"] != 0).all()), float(new["b"].sum())
      (True, 4.0)
    """
    _check_key("tree.reinit", key)
    rule_list = _rule_list("tree.reinit", rules, allow_keep=True)
    paths, leaves, treedef = flatten(params)

    def current(leaf):
        # Single-device placements are restored after the call: one jit cannot lay
        # outputs out on a mesh and on a lone device at once.
        sharding = getattr(leaf, "sharding", None)
        return sharding if isinstance(sharding, NamedSharding) else None

    shardings = _sharding_leaves("tree.reinit", out_shardings, treedef, leaves, current)
    steps = _plan(
        "tree.reinit",
        rule_list,
        list(zip(paths, leaves, strict=True)),
        shardings,
    )
    # Kept leaves (rule -> None) and non-arrays never enter the jitted call.
    fresh = [i for i, step in enumerate(steps) if step is not None and step[1] is not None]
    plan = tuple(steps[i] for i in fresh)
    old = tuple(leaves[i] for i in fresh) if donate else ()
    new = _run(plan, key, old, donate=donate)
    out = list(leaves)
    for i, value in zip(fresh, new, strict=True):
        placed = getattr(leaves[i], "sharding", None)
        if out_shardings is None and isinstance(leaves[i], jax.Array):
            placed = cast(jax.sharding.Sharding, placed)  # every jax.Array has one
            if not placed.is_equivalent_to(value.sharding, value.ndim):
                value = jax.device_put(value, placed)
        out[i] = value
    return jax.tree_util.tree_unflatten(treedef, out)


# ----------------------------------------------------------------------------- LSUV


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
    layer's weight by :math:`\sqrt{\mathrm{Var}[y] / v}`, with :math:`y` the
    layer's output and :math:`v` = ``target_var``, until
    :math:`|\mathrm{Var}[y] - v| <` ``tol`` or ``max_iters`` passes (Mishkin and
    Matas, Algorithm 1). Start from orthogonal weights, as the paper does, e.g.
    :func:`init` with ``jax_inits.orthogonal()`` for the kernels. Biases are not
    changed. Pure: ``params`` is not modified, the rescaled tree is returned.

    Args:
      apply_fn: ``apply_fn(params, batch)`` returns a sequence with the output of
        each layer to normalise (pre-activation), in the order of ``weights``.
        It is compiled once with ``jax.jit``.
      params: The parameter pytree.
      batch: The input (any pytree) ``apply_fn`` takes, e.g. a few hundred samples.
      weights: One pattern per layer (glob string, compiled regex or predicate,
        as in :func:`init`), each matching exactly one array leaf: the weight
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
      Mishkin and Matas, `All you need is a good init
      <https://arxiv.org/abs/1511.06422>`_, 2015.
    """
    if not callable(apply_fn):
        raise TypeError(f"lsuv: `apply_fn` must be callable, got {apply_fn!r}.")
    target_var = checks.real_number("lsuv", "target_var", target_var, minimum=0, strict=True)
    tol = checks.real_number("lsuv", "tol", tol, minimum=0, strict=True)
    max_iters = checks.integer("lsuv", "max_iters", max_iters)
    if max_iters < 1:
        raise ValueError(f"lsuv: `max_iters` must be >= 1, got {max_iters!r}.")
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

    forward = jax.jit(lambda p, b: [jnp.var(y) for y in apply_fn(p, b)])
    for layer, index in enumerate(targets):
        for _ in range(max_iters):
            variances = forward(jax.tree_util.tree_unflatten(treedef, leaves), batch)
            if len(variances) != len(targets):
                raise ValueError(
                    f"lsuv: `apply_fn` must return one output per entry of `weights` "
                    f"({len(targets)}), got {len(variances)}."
                )
            var = float(variances[layer])
            if not (math.isfinite(var) and var > 0):
                raise ValueError(
                    f"lsuv: the output of layer {layer} (weight {paths[index]!r}) has "
                    f"variance {var!r}; it must be finite and > 0 to be rescaled."
                )
            if abs(var - target_var) < tol:
                break
            weight = jnp.asarray(leaves[index])
            leaves[index] = (weight * math.sqrt(target_var / var)).astype(weight.dtype)
    return jax.tree_util.tree_unflatten(treedef, leaves)
