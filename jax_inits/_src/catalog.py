"""The catalogue of public initializers, derived from the registry: one entry per
registered name, with the example instance and the shape used to show it (the
CLI table, the docs and the tests walk it).

Nothing here is written per builder: what a builder needs to be shown (example
arguments, kind of shape, counterparts in other libraries) is said where it is
registered (`jax_inits._src.registry.register`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jax_inits._src import (  # noqa: F401  (imported to register their builders)
    complex_valued,
    constant,
    distributions,
    orthogonal,
    pytorch,
    recipes,
    registry,
    structural,
    variance_scaling,
)

LIBRARIES = registry.LIBRARIES
PREFIXES = registry.PREFIXES

#: The order families are shown in: jax's own names first, then the complex
#: ones, then ``jax_inits.pytorch`` and ``jax_inits.recipes``; within a family,
#: ready initializers first, then the order of registration (of the source).
_FAMILIES = (
    "constant",
    "distributions",
    "variance_scaling",
    "orthogonal",
    "structural",
    "complex_valued",
    "pytorch",
    "recipes",
)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A public builder (or ready initializer) and how to show it."""

    name: str
    example: Any  # an initializer built with example arguments
    aliases: tuple[str, ...] = ()
    conv: bool = False  # needs a convolution kernel shape (spatial axes first)
    matrix: bool = False  # needs a shape of rank exactly 2
    complex: bool = False  # needs a complex dtype

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape the example accepts, made from a matrix shape."""
        return (3, 3, *shape) if self.conv else shape

    def dtype(self, dtype) -> np.dtype:
        """``dtype``, or for complex-only entries the complex dtype of its precision."""
        dtype = np.dtype(dtype)
        if self.complex and not np.issubdtype(dtype, np.complexfloating):
            return np.dtype(np.complex128 if dtype == np.float64 else np.complex64)
        return dtype


def _order(spec: registry.Spec) -> tuple[int, bool]:
    """Family, then ready initializers (``zeros``, ``ones``) before builders."""
    return _FAMILIES.index(spec.module.rsplit(".", 1)[-1]), spec.builder is not None


def _entry(spec: registry.Spec) -> Entry:
    return Entry(
        spec.name,
        spec.build_example(),
        spec.aliases,
        conv=spec.shape == "conv",
        matrix=spec.shape == "matrix",
        complex=spec.complex,
    )


ENTRIES: tuple[Entry, ...] = tuple(
    _entry(spec)
    for spec in sorted(registry.specs(), key=_order)  # sorted() is stable
)


# Public names that are not initializers or builders of one.
NOT_INITIALIZERS = frozenset(
    {
        "Initializer",
        "calculate_gain",
        "clear_caches",
        "compute_fans",
        "einsum_axes",
        "from_config",
        "get",
        "pytorch",
        "pytorch.calculate_gain",
        "recipes",
        "recipes.InitDistribution",
        "recipes.InitFnName",
        "recipes.deepnorm_alpha",
        "recipes.deepnorm_beta",
        "registered",
    }
)


def names() -> list[str]:
    """Every public initializer name, aliases included."""
    return [n for e in ENTRIES for n in (e.name, *e.aliases)]


def equivalents(name: str) -> dict[str, str]:
    """The counterpart of ``name`` in each of `LIBRARIES`, ``-`` where none.

    A ``~`` marks a counterpart that matches the variance but not the
    distribution (torch's ``kaiming_normal_`` and ``xavier_normal_`` are
    untruncated normals where jax's presets truncate at 2 sigma). torch computes
    fans of a ``Linear`` weight of shape ``(out, in)``, the transpose of the
    ``(in, out)`` layout used here. Sources: the torch.nn.init,
    keras.initializers, haiku.initializers and flax.linen.initializers
    (= jax.nn.initializers) reference pages.
    """
    try:
        spec = registry.resolve(name)
    except ValueError:
        return dict.fromkeys(LIBRARIES, "-")
    return spec.counterparts()


def short(library: str, text: str) -> str:
    """``text`` without the module prefix of ``library`` (for narrow tables)."""
    approx = text.startswith("~")
    text = text.removeprefix("~").removeprefix(PREFIXES[library])
    return "~" + text if approx else text
