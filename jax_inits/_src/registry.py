"""Builders by name, and initializers as JSON-serialisable configs.

Every public builder is registered under its public name (``"he_normal"``,
``"pytorch.kaiming_uniform"``, ``"recipes.small_init"``). Calling a registered
builder records, on the initializer it returns, the builder's name and the
arguments it was given. That record is the initializer's :attr:`config` (a dict
of JSON values) and its ``repr``; :func:`from_config` calls the named builder
again with the decoded arguments, so ``from_config(init.config) == init``.

Encoding of argument values: numbers, strings, booleans and ``None`` as
themselves; non-finite floats as ``{"float": "inf"}``; tuples and lists as
lists (decoded to tuples); dtypes as their name (``"bfloat16"``); arrays as
``{"array": nested lists, "dtype": name}``; initializers as their own config.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jax_inits._src import checks

_BUILDERS: dict[str, Callable[..., Any]] = {}
_READY: dict[str, Any] = {}  # initializers that are values, not builders (zeros, ones)
_ALIASES: dict[str, str] = {}


def register(name: str, *, aliases: tuple[str, ...] = ()):
    """Decorator: registers a builder under ``name`` and records its calls."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def build(*args, **kwargs):
            checks.builder_args(name, args)  # he_normal(key, shape): parentheses forgotten
            init = fn(*args, **kwargs)
            if hasattr(init, "_built"):  # made by another builder, maybe shared: copy
                init = copy.copy(init)
            bound = signature.bind(*args, **kwargs)
            record(init, name, dict(bound.arguments))
            return init

        build._jax_inits_builder = name  # type: ignore[attr-defined]  # read by checks.initializer
        _BUILDERS[name] = build
        for alias in aliases:
            _ALIASES[alias] = name
        return build

    return wrap


def register_ready(name: str, init: Any) -> None:
    """Registers an initializer that is used as is (``zeros``, ``ones``)."""
    _READY[name] = init
    record(init, name, None)


def record(init: Any, name: str, arguments: dict[str, Any]) -> None:
    """Attaches ``(builder name, arguments)`` to a frozen initializer, and makes
    the builder's name the one its call-time messages show."""
    object.__setattr__(init, "_built", (name, arguments))
    if not isinstance(getattr(type(init), "name", None), property):
        object.__setattr__(init, "name", name)


def names() -> list[str]:
    """Every registered name (builders, ready initializers and aliases), sorted."""
    return sorted({*_BUILDERS, *_READY, *_ALIASES})


def _resolve(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"get: `name` must be a string, got {name!r}.")
    name = _ALIASES.get(name, name)
    if name not in _BUILDERS and name not in _READY:
        close = difflib.get_close_matches(name, names(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"get: unknown initializer {name!r}.{hint} Known names: jax_inits.registered()."
        )
    return name


def lookup(name: str) -> tuple[str, Any]:
    """``(canonical name, builder or ready initializer)`` for a registered name."""
    name = _resolve(name)
    return name, _READY[name] if name in _READY else _BUILDERS[name]


def get(name: str, *args: Any, **kwargs: Any) -> Any:
    """Builds the initializer registered under ``name`` with the given arguments.

    Names are the public ones, aliases included; builders of submodules are
    named with their module (``"pytorch.kaiming_uniform"``,
    ``"recipes.small_init"``). ``zeros`` and ``ones`` take no arguments.

    Args:
      name: A registered name (see :func:`registered`).
      *args: Positional arguments of the builder.
      **kwargs: Keyword arguments of the builder.

    Returns:
      The initializer.

    Raises:
      ValueError: unknown ``name`` (the message lists close names), or the
        builder's own errors.
      TypeError: ``name`` is not a string, arguments given to ``zeros``/``ones``
        or arguments the builder does not take.

    Examples:
      >>> jax_inits.get("he_normal", batch_axis=0)
      he_normal(batch_axis=0)
      >>> jax_inits.get("kaiming_uniform") == jax_inits.he_uniform()
      True
    """
    name = _resolve(name)
    if name in _READY:
        if args or kwargs:
            raise TypeError(f"get: {name!r} is an initializer and takes no arguments.")
        return _READY[name]
    builder = _BUILDERS[name]
    try:
        inspect.signature(builder).bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"get: bad arguments for {name!r}: {error}.") from None
    return builder(*args, **kwargs)


def registered() -> list[str]:
    """Every name :func:`get` accepts, sorted.

    Examples:
      >>> "he_normal" in jax_inits.registered()
      True
    """
    return names()


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.generic) and not isinstance(value, np.flexible):
        return _encode(value.item(), where)
    if isinstance(value, np.dtype) or (isinstance(value, type) and _is_dtype(value)):
        return np.dtype(value).name
    if isinstance(value, (tuple, list)):
        return [_encode(v, where) for v in value]
    if hasattr(value, "_built"):
        return config_of(value)
    if hasattr(value, "__array__") and hasattr(value, "dtype"):
        array = np.asarray(value)
        return {"array": array.tolist(), "dtype": array.dtype.name}
    raise TypeError(
        f"config: argument `{where}` holds {value!r}, which has no JSON form; only "
        "numbers, strings, dtypes, sequences, arrays and jax_inits initializers do."
    )


def _is_dtype(value: type) -> bool:
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"float"}:
            return float(value["float"])
        if keys == {"array", "dtype"}:
            return np.asarray(value["array"], dtype=value["dtype"])
        if keys == {"name", "args"}:
            return from_config(value)
        raise ValueError(f"from_config: cannot decode the argument value {dict(value)!r}.")
    return value


def config_of(init: Any) -> dict[str, Any]:
    """The JSON config of an initializer made by a registered builder."""
    built = getattr(init, "_built", None)
    if built is None:
        raise TypeError(
            f"config: {init!r} was not made by a registered builder, so it has no config; "
            "build it with a jax_inits builder (e.g. jax_inits.get(name, ...))."
        )
    name, arguments = built
    if arguments is None:
        return {"name": name, "args": {}}
    return {"name": name, "args": {k: _encode(v, k) for k, v in arguments.items()}}


def built_repr(init: Any) -> str | None:
    """``name(args)`` as the builder was called, or ``None`` if not recorded.

    Arguments without a default are shown positionally, the others as
    ``key=value``; values are shown in their config form.
    """
    built = getattr(init, "_built", None)
    if built is None:
        return None
    name, arguments = built
    if arguments is None:
        return name
    signature = inspect.signature(_BUILDERS[name])
    parts = []
    for arg, value in arguments.items():
        param = signature.parameters[arg]
        shown = repr(_encode_for_repr(value, arg))
        if param.kind == param.VAR_POSITIONAL:
            parts.extend(repr(_encode_for_repr(v, arg)) for v in value)
        elif param.kind == param.VAR_KEYWORD:
            parts.extend(f"{k}={_encode_for_repr(v, k)!r}" for k, v in value.items())
        elif param.default is param.empty and param.kind != param.KEYWORD_ONLY:
            parts.append(shown)
        else:
            parts.append(f"{arg}={shown}")
    return f"{name}({', '.join(parts)})"


class _Raw:
    """Shows an already formatted value without quotes."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _encode_for_repr(value: Any, where: str) -> Any:
    if hasattr(value, "_built"):
        return _Raw(repr(value))
    if isinstance(value, tuple):
        return tuple(_encode_for_repr(v, where) for v in value)
    if isinstance(value, float):
        return value
    if hasattr(value, "__array__") and np.ndim(value) > 0:
        array = np.asarray(value)
        return _Raw(f"<array shape={array.shape} dtype={array.dtype.name}>")
    try:
        return _encode(value, where)
    except TypeError:
        return _Raw(repr(value))


def from_config(config: Mapping[str, Any]) -> Any:
    """Builds the initializer a config describes: ``from_config(init.config) == init``.

    Args:
      config: A dict ``{"name": registered name, "args": {argument: JSON value}}``
        as :attr:`config` returns (also after a JSON round trip).

    Returns:
      The initializer.

    Raises:
      TypeError: ``config`` is not such a dict.
      ValueError: unknown name or argument values the builder rejects.

    Examples:
      >>> import json
      >>> init = jax_inits.variance_scaling(0.5, "fan_avg", "uniform", dtype=jnp.bfloat16)
      >>> text = json.dumps(init.config)
      >>> print(json.dumps(init.config, indent=1))
      {
       "name": "variance_scaling",
       "args": {
        "scale": 0.5,
        "mode": "fan_avg",
        "distribution": "uniform",
        "dtype": "bfloat16"
       }
      }
      >>> jax_inits.from_config(json.loads(text)) == init
      True
    """
    if (
        not isinstance(config, Mapping)
        or set(config) != {"name", "args"}
        or not isinstance(config["args"], Mapping)
    ):
        raise TypeError(
            f'from_config: `config` must be a dict {{"name": str, "args": dict}}, got {config!r}.'
        )
    args = {k: _decode(v) for k, v in config["args"].items()}
    name = _resolve(config["name"])
    if name in _READY:
        return get(name, **args)
    signature = inspect.signature(_BUILDERS[name])
    positional = [p.name for p in signature.parameters.values() if p.kind == p.POSITIONAL_ONLY]
    pos_args = [args.pop(p) for p in positional if p in args]
    var = [p.name for p in signature.parameters.values() if p.kind == p.VAR_POSITIONAL]
    if var and var[0] in args:
        pos_args.extend(args.pop(var[0]))
    return get(name, *pos_args, **args)
