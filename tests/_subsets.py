"""Which catalogue builders a per-builder test runs in `make test`, and which only
in `make test-slow`.

Many tests run once per builder of the catalogue, and most of their time is
compiling. Builders of one implementation and distribution share every line of
code and differ only in their arguments (``he_normal`` and ``lecun_normal`` are
both ``VarianceScaling`` with a truncated normal), so `make test` runs one
builder of each (implementation class, distribution) pair -- every code path --
and marks the others ``slow``: `make test-slow`, a CI step of its own, runs
them, so every builder still passes every such test before a change lands.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from jax_inits._src import catalog


def _family(example) -> tuple:
    """(implementation class, distribution): what decides the code a call runs."""
    scaling = getattr(example, "scaling", None)  # TorchFans wraps a variance scaling
    distribution = getattr(example, "distribution", None) or getattr(scaling, "distribution", None)
    return type(example), distribution


def _representatives() -> frozenset[str]:
    first: dict[tuple, str] = {}
    for entry in catalog.ENTRIES:
        first.setdefault(_family(entry.example), entry.name)
    return frozenset(first.values())


#: The first builder of every (implementation class, distribution) in catalogue order.
REPRESENTATIVES = _representatives()


_CATALOGUE = frozenset(entry.name for entry in catalog.ENTRIES)


def in_make_test(name: str) -> bool:
    """Whether a per-builder case for ``name`` runs in `make test` (names that are
    not catalogue builders, such as a test's own extra cases, always do)."""
    return name in REPRESENTATIVES or name not in _CATALOGUE


def builders(names: Iterable[str] | None = None) -> list:
    """``pytest.param`` per name (default: the whole catalogue), the catalogue
    builders that are not `REPRESENTATIVES` marked ``slow``; the id is the name."""
    if names is None:
        names = [entry.name for entry in catalog.ENTRIES]
    return [
        pytest.param(name, id=name, marks=() if in_make_test(name) else pytest.mark.slow)
        for name in names
    ]


def rotated(names: Iterable, variants: Iterable, *, fast: Iterable | None = None) -> list:
    """``pytest.param(name, variant)`` for every pair of a cross product, where
    `make test` runs ONE variant per name and `make test-slow` the rest (a name is
    a builder's name or any other case, such as a shape).

    The variant a name gets in `make test` rotates with the name's position among
    the names that run there (``fast``: default the names `in_make_test`), so
    across names every variant runs in `make test` while each name costs one case.
    The id is ``name-variant``.
    """
    names, variants = list(names), list(variants)
    quick = [n for n in names if in_make_test(n)] if fast is None else list(fast)
    params = []
    for name in names:
        chosen = quick.index(name) % len(variants) if name in quick else None
        for i, variant in enumerate(variants):
            marks = () if i == chosen else pytest.mark.slow
            params.append(pytest.param(name, variant, id=f"{name}-{variant}", marks=marks))
    return params


def shared(names: Iterable, test: int, tests: int) -> list:
    """`builders` for one of ``tests`` related tests that share the `make test` cases
    of a per-builder check (e.g. two kinds of sharding): of the names that run in
    `make test`, test ``test`` takes every ``tests``-th (rotating), the others go to
    `make test-slow` with the names that never run there. Across the ``tests`` tests,
    each such name runs exactly once in `make test`."""
    names = list(names)
    mine = share_of(names, test, tests)
    return [
        pytest.param(name, id=str(name), marks=() if name in mine else pytest.mark.slow)
        for name in names
    ]


def share_of(names: Iterable, test: int, tests: int) -> list:
    """The names that test ``test`` of ``tests`` runs in `make test` (see `shared`);
    as ``fast=`` of `rotated` when one of the related tests is a cross product."""
    quick = [n for n in names if in_make_test(n)]
    return [n for i, n in enumerate(quick) if i % tests == test]
