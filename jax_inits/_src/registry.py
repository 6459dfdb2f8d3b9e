"""Builders by name, and initializers as JSON-serialisable configs.

Every public builder is registered under its public name (``"he_normal"``,
``"pytorch.kaiming_uniform"``, ``"recipes.small_init"``). Calling a registered
builder records, on the initializer it returns, the builder's name and the
arguments it was given. That record is the initializer's `config` (a dict
of JSON values) and its ``repr``; `from_config` calls the named builder
again with the decoded arguments, so ``from_config(init.config) == init``.

Encoding of argument values: numbers, strings, booleans and ``None`` as
themselves; non-finite floats as ``{"float": "inf"}``; tuples and lists as
lists (decoded to tuples); dtypes as their name (``"bfloat16"``); arrays as
``{"array": nested lists, "dtype": name}``; initializers as their own config.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jax_inits._src import checks

#: The libraries whose counterpart of a builder a registration may name, and the
#: module prefix each counterpart is written under.
LIBRARIES: tuple[str, ...] = ("torch", "keras", "haiku", "flax")
PREFIXES: dict[str, str] = {
    "torch": "torch.nn.init.",
    "keras": "keras.initializers.",
    "haiku": "hk.initializers.",
    "flax": "nn.initializers.",
}
#: Shapes a builder's initializers need: any shape ``jax_inits`` draws for a
#: weight, a convolution kernel (spatial axes first) or a matrix (rank exactly 2).
SHAPE_KINDS: tuple[str, ...] = ("any", "conv", "matrix")
#: Kinds of builder argument, for the table-driven hostile-input tests: each
#: kind names the bad values that must be rejected (a ``?`` allows ``None``).
ARGUMENT_KINDS: tuple[str, ...] = (
    "real",  # any finite real number
    "nonneg",  # a finite real number >= 0
    "positive",  # a finite real number > 0
    "bound",  # a real number, +-inf allowed, NaN not
    "int",  # one integer
    "axes",  # an integer or a sequence of distinct integers
    "count",  # an integer > 0
    "count?",
    "natural?",  # an integer >= 0, or None
    "depth",  # an integer >= 2
    "choice",  # one string of a fixed set
    "choice?",
    "layout",  # "jax" or "torch"
    "fan_layout",  # "jax", "torch" or "transformer_lens"
)


def args(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of a builder call, as `register`'s ``example`` takes them."""
    return args, kwargs


@dataclasses.dataclass(frozen=True, eq=False)
class Spec:
    """What the package says about one registered name, in one place.

    The catalogue (`jax_inits._src.catalog`), the CLI, the diagnostics and
    the table-driven tests all read it.

    Attributes:
      name: The public name (``"he_normal"``, ``"pytorch.kaiming_uniform"``).
      builder: The registered (recording) builder, or ``None`` for a ready
        initializer.
      ready: The initializer itself for names such as ``zeros``, else ``None``.
      aliases: Other names `get` accepts for it.
      example: ``(args, kwargs)`` of a call that shows the builder (required
        arguments filled in); ``((), {})`` where the defaults do.
      shape: One of `SHAPE_KINDS`.
      complex: Whether its initializers need a complex dtype.
      equivalents: Counterparts in the libraries of `LIBRARIES`, written
        without the library's prefix; a leading ``~`` marks a counterpart with
        the same variance but another distribution.
      kinds: Argument name -> one of `ARGUMENT_KINDS`.
      module: The module the builder (or ready initializer) is defined in.
      traced: Arguments that may be traced values (swept under ``jax.jit`` or
        ``vmap``, as jax.nn's builders allow); the others must be concrete.
    """

    name: str
    builder: Callable[..., Any] | None
    ready: Any
    aliases: tuple[str, ...]
    example: tuple[tuple[Any, ...], dict[str, Any]]
    shape: str
    complex: bool
    equivalents: Mapping[str, str]
    kinds: Mapping[str, str]
    module: str
    traced: tuple[str, ...] = ()

    def build_example(self) -> Any:
        """The initializer `example` builds (the ready one for ``zeros``)."""
        if self.builder is None:
            return self.ready
        example_args, example_kwargs = self.example
        return self.builder(*example_args, **example_kwargs)

    def counterparts(self) -> dict[str, str]:
        """The counterpart in each of `LIBRARIES` with its module prefix, ``-`` where
        none (a ``~`` stays in front)."""
        out = {}
        for lib in LIBRARIES:
            text = self.equivalents.get(lib)
            if text is None:
                out[lib] = "-"
            else:
                approx = text.startswith("~")
                out[lib] = ("~" if approx else "") + PREFIXES[lib] + text.removeprefix("~")
        return out


#: Every registered name, in registration order (aliases are in ``_ALIASES``).
_SPECS: dict[str, Spec] = {}
_ALIASES: dict[str, str] = {}


def _check_spec(spec: Spec, signature: inspect.Signature | None) -> None:
    """Rejects a registration that contradicts itself (a typo fails at import)."""
    where = f"register({spec.name!r})"
    if spec.name in _SPECS or spec.name in _ALIASES:
        raise ValueError(f"{where}: the name is registered already.")
    for alias in spec.aliases:
        if alias in _SPECS or alias in _ALIASES:
            raise ValueError(f"{where}: the alias {alias!r} is registered already.")
    if spec.shape not in SHAPE_KINDS:
        raise ValueError(f"{where}: `shape` must be one of {SHAPE_KINDS}, got {spec.shape!r}.")
    unknown = set(spec.equivalents) - set(LIBRARIES)
    if unknown:
        raise ValueError(f"{where}: `equivalents` must be keyed by {LIBRARIES}, got {unknown}.")
    for arg, kind in spec.kinds.items():
        if kind not in ARGUMENT_KINDS:
            raise ValueError(f"{where}: `kinds` must be in {ARGUMENT_KINDS}, got {kind!r}.")
        if signature is None or arg not in signature.parameters:
            raise ValueError(f"{where}: `kinds` names {arg!r}, which the builder does not take.")
    for arg in spec.traced:
        if signature is None or arg not in signature.parameters:
            raise ValueError(f"{where}: `traced` names {arg!r}, which the builder does not take.")
    if signature is not None:
        signature.bind(*spec.example[0], **spec.example[1])  # a TypeError for a bad example


def register(
    name: str,
    *,
    aliases: tuple[str, ...] = (),
    example: tuple[tuple[Any, ...], dict[str, Any]] = ((), {}),
    shape: str = "any",
    complex: bool = False,
    equivalents: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
    traced: tuple[str, ...] = (),
):
    """Decorator: registers a builder under ``name`` and records its calls.

    The registration is everything the rest of the package needs to know about
    the builder (see `Spec` for the arguments); adding a builder touches
    its module, ``__init__``'s re-exports and its tests.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def build(*args, **kwargs):
            checks.builder_args(name, args)  # he_normal(key, shape): parentheses forgotten
            init = fn(*args, **kwargs)
            return named(init, name, dict(signature.bind(*args, **kwargs).arguments))

        build._jax_inits_builder = name  # type: ignore[attr-defined]  # read by checks.initializer
        spec = Spec(
            name,
            build,
            None,
            tuple(aliases),
            example,
            shape,
            complex,
            dict(equivalents or {}),
            dict(kinds or {}),
            fn.__module__,
            tuple(traced),
        )
        _check_spec(spec, signature)
        _SPECS[name] = spec
        for alias in aliases:
            _ALIASES[alias] = name
        return build

    return wrap


def register_ready(name: str, init: Any, *, equivalents: Mapping[str, str] | None = None) -> Any:
    """Registers an initializer that is used as is (``zeros``, ``ones``).

    Returns:
      ``init`` named ``name``: the object `get` returns for ``name``.
    """
    init = named(init, name, None)
    spec = Spec(
        name, None, init, (), ((), {}), "any", False, dict(equivalents or {}), {},
        type(init).__module__,
    )  # fmt: skip
    _check_spec(spec, None)
    _SPECS[name] = spec
    return init


def named(init: Any, name: str, arguments: dict[str, Any] | None) -> Any:
    """A copy of the (frozen) initializer ``init`` whose display name is ``name``
    and whose record of its making is ``(name, arguments)``: what its messages,
    repr and `config` show. Equality does not see either."""
    return dataclasses.replace(init, name=name, built=(name, arguments))


def names() -> list[str]:
    """Every registered name (builders, ready initializers and aliases), sorted."""
    return sorted({*_SPECS, *_ALIASES})


def specs() -> tuple[Spec, ...]:
    """Every registration, in registration order (aliases are on their `Spec`)."""
    return tuple(_SPECS.values())


def did_you_mean(name: str, choices: Any) -> str:
    """``"; did you mean: a, b"`` for the choices close to ``name``, else ``""``.

    The one did-you-mean of the package (initializer and activation names)."""
    close = difflib.get_close_matches(name, list(choices), n=5, cutoff=0.6)
    return f"; did you mean: {', '.join(close)}" if close else ""


def resolve(name: Any, caller: str | None = "get") -> Spec:
    """The `Spec` of a registered name or alias.

    The one "unknown name" path: `get`, `from_config`, the
    diagnostics and the CLI all resolve names here.

    Args:
      name: The name to resolve.
      caller: The function named in front of the message (``None``: none, for
        the CLI, whose parser names the command).

    Raises:
      TypeError: ``name`` is not a string.
      ValueError: ``name`` is not registered; the message lists close names.
    """
    prefix = "" if caller is None else f"{caller}: "
    if not isinstance(name, str):
        raise TypeError(f"{prefix}`name` must be a string, got {name!r}.")
    spec = _SPECS.get(_ALIASES.get(name, name))
    if spec is None:
        hint = did_you_mean(name, names()) or (
            "; `jax-inits list` shows them all (jax_inits.registered() in Python)"
        )
        raise ValueError(f"{prefix}unknown initializer {name!r}{hint}.")
    return spec


def lookup(name: str) -> tuple[str, Any]:
    """``(canonical name, builder or ready initializer)`` for a registered name."""
    spec = resolve(name)
    return spec.name, spec.ready if spec.builder is None else spec.builder


def get(name: str, *args: Any, **kwargs: Any) -> Any:
    """Builds the initializer registered under ``name`` with the given arguments.

    Names are the public ones, aliases included; builders of submodules are
    named with their module (``"pytorch.kaiming_uniform"``,
    ``"recipes.small_init"``). ``zeros`` and ``ones`` take no arguments.

    Args:
      name: A registered name (see `registered`).
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
    spec = resolve(name)
    name, builder = spec.name, spec.builder
    if builder is None:
        if args or kwargs:
            raise TypeError(f"get: {name!r} is an initializer and takes no arguments.")
        return spec.ready
    try:
        inspect.signature(builder).bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"get: bad arguments for {name!r}: {error}.") from None
    return builder(*args, **kwargs)


def registered() -> list[str]:
    """Every name `get` accepts, sorted.

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
    if isinstance(value, np.dtype) or (isinstance(value, type) and checks.is_dtype(value)):
        return np.dtype(value).name
    if isinstance(value, (tuple, list)):
        return [_encode(v, where) for v in value]
    if _built(value) is not None:
        return config_of(value)
    if checks.is_traced(value):
        raise TypeError(
            f"config: argument `{where}` is a traced value, which has no JSON form; build "
            "the initializer with a concrete number to write its config."
        )
    if hasattr(value, "__array__") and hasattr(value, "dtype"):
        array = np.asarray(value)
        return {"array": array.tolist(), "dtype": array.dtype.name}
    raise TypeError(
        f"config: argument `{where}` holds {value!r}, which has no JSON form; only "
        "numbers, strings, dtypes, sequences, arrays and jax_inits initializers do."
    )


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


def _built(init: Any) -> tuple[str, dict[str, Any] | None] | None:
    """``(builder name, arguments)`` of an initializer a registered builder made."""
    built = getattr(init, "built", None)
    return built if isinstance(built, tuple) else None


def config_of(init: Any) -> dict[str, Any]:
    """The JSON config of an initializer made by a registered builder."""
    built = _built(init)
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
    built = _built(init)
    if built is None:
        return None
    name, arguments = built
    if arguments is None:
        return name
    signature = inspect.signature(_SPECS[name].builder)  # pyright: ignore[reportArgumentType]
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
    if _built(value) is not None:
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
        as `config` returns (also after a JSON round trip).

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
    spec = resolve(config["name"], "from_config")
    name = spec.name
    if spec.builder is None:
        return get(name, **args)
    signature = inspect.signature(spec.builder)
    positional = [p.name for p in signature.parameters.values() if p.kind == p.POSITIONAL_ONLY]
    pos_args = [args.pop(p) for p in positional if p in args]
    var = [p.name for p in signature.parameters.values() if p.kind == p.VAR_POSITIONAL]
    if var and var[0] in args:
        pos_args.extend(args.pop(var[0]))
    return get(name, *pos_args, **args)
