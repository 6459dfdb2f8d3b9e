"""What accelerators run: every catalogue builder exported for CUDA and TPU on the CPU.

Run: ``python benchmarks/lowering.py [--out PATH]`` (about 30 s on 2 cores).

Each case is ``jax.jit(lambda key: init(key, shape, dtype))`` of a catalogue
builder's example (``jax_inits._src.catalog``; ``grouped`` and ``stacked`` are
entries of it) in float32, bfloat16 and complex64 where the builder accepts the
dtype, plus one grouped ``tree.init`` draw (the vmapped executable an eager
``tree.init`` runs for a group of equal leaves). It is exported with
``jax.export.export(..., platforms=(platform,))`` for ``cuda`` and ``tpu``: jax
lowers for a platform without its device or plugin, so this runs on a CPU-only
machine. The StableHLO text is scanned for the notable ops: custom calls (by
target name), ``while`` loops, ``sort``, the RNG ops (``rng``,
``rng_bit_generator``) and the op count.

The table goes to ``benchmarks/results/lowering.md``. It holds no timings, dates
or machine details, only the jax version, so it is the same on every run with
that version: a change in what accelerators run shows up in review as a diff.
``tests/test_lowering.py`` asserts the rules on the same cases (no host
callback, no custom call but jax's own QR calls, no loop or sort in an
elementwise draw) and, in the slow tier, that regenerating gives the committed
file.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import pathlib
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.export  # a submodule: `import jax` alone does not load it on jax 0.7
import jax.numpy as jnp

import jax_inits
from jax_inits._src import catalog, dispatch
from jax_inits._src import tree as tree_src

PLATFORMS = ("cuda", "tpu")
DTYPES = ("float32", "bfloat16", "complex64")
#: The shape every case draws (conv builders: ``(3, 3, 16, 24)``); small, since
#: the lowering does not depend on the size beyond the shape itself.
SHAPE = (16, 24)
OUT = pathlib.Path(__file__).resolve().parent / "results" / "lowering.md"
KEY = jax.random.key(0)
_OPS = re.compile(r"\b(?:stablehlo|chlo|mhlo)\.([a-z_0-9]+)")
_CUSTOM_CALL = re.compile(r"stablehlo\.custom_call\s+@([\w.$-]+)")
#: Custom calls that annotate layout, not compute (jax 0.5 exports a ``@Sharding`` one).
_ANNOTATIONS = frozenset({"Sharding"})
#: Op names that count as RNG ops (jax.random with rbg keys lowers to these).
RNG_OPS = ("rng", "rng_bit_generator")
#: The grouped tree.init case: two equal leaves (one vmapped group) and a bias.
TREE_CASE = "tree.init (grouped)"


@dataclasses.dataclass(frozen=True)
class Case:
    """One exported function of the key: a builder, a dtype, a shape."""

    name: str
    dtype: str
    fn: Callable[[jax.Array], Any] = dataclasses.field(compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class Lowered:
    """What a case lowers to on one platform."""

    custom_calls: tuple[str, ...]  # target names, sorted, repeats kept
    ops: collections.Counter  # op name -> count
    ordered_effects: tuple
    unordered_effects: tuple

    def count(self, *names: str) -> int:
        return sum(self.ops[name] for name in names)


def _builder_case(entry: catalog.Entry, dtype: str) -> Case | None:
    """The case of ``entry`` in ``dtype``, or ``None`` where it rejects the dtype."""
    if entry.complex and dtype != "complex64":
        return None
    shape = entry.shape(SHAPE)
    try:  # the builder's own call checks: a dtype it rejects is not a case
        dispatch._checked(entry.example, KEY, shape, dtype)
    except TypeError:
        return None
    init = entry.example
    return Case(entry.name, dtype, lambda key: init(key, shape, dtype))


def tree_case() -> Case:
    """The executable an eager ``tree.init`` runs for this spec: the two kernels
    form one group, drawn by one vmapped draw (the grouped path), the bias another."""
    spec = {
        "a": {"kernel": jax.ShapeDtypeStruct(SHAPE, jnp.float32)},
        "b": {"kernel": jax.ShapeDtypeStruct(SHAPE, jnp.float32)},
        "bias": jax.ShapeDtypeStruct(SHAPE[-1:], jnp.float32),
    }
    rules = [("*kernel", jax_inits.he_normal()), ("*", jax_inits.normal(0.02))]
    paths, leaves, _ = tree_src.flatten(spec)
    steps = tree_src._plan(
        "tree.init",
        tree_src._rule_list("tree.init", rules, allow_keep=False),
        list(zip(paths, leaves, strict=True)),
        [None] * len(leaves),
    )
    groups, order, words = tree_src._groups(tuple(steps))
    assert any(group[4] > 1 for group in groups), "the spec must make a group of several leaves"
    draw = tree_src._build(groups, order, False)  # the eager (stacked, unsplit) form
    return Case(TREE_CASE, "float32", lambda key: draw(key, words, ()))


def cases() -> list[Case]:
    """Every catalogue builder in every dtype it accepts, then the tree.init case."""
    out = [
        case
        for entry in catalog.ENTRIES
        for dtype in DTYPES
        if (case := _builder_case(entry, dtype)) is not None
    ]
    return [*out, tree_case()]


def lower(fn: Callable[[jax.Array], Any], platform: str) -> Lowered:
    """Exports ``fn`` (a function of the key) for ``platform`` and scans the module."""
    exported = jax.export.export(jax.jit(fn), platforms=(platform,))(KEY)
    text = exported.mlir_module()
    return Lowered(
        tuple(sorted(c for c in _CUSTOM_CALL.findall(text) if c not in _ANNOTATIONS)),
        collections.Counter(_OPS.findall(text)),
        tuple(exported.ordered_effects),
        tuple(exported.unordered_effects),
    )


def _call(init: Any, key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    return init(key, shape, dtype)


@functools.cache
def qr_calls(platform: str) -> frozenset[str]:
    """The custom-call targets of jax's own orthogonal on ``platform`` (real and
    complex, wide and tall): the QR decomposition and the product of its
    Householder reflectors (``geqrf``/``orgqr`` on CUDA, ``Qr``/
    ``ProductOfElementaryHouseholderReflectors`` on TPU with jax 0.10)."""
    init = jax.nn.initializers.orthogonal()
    found: set[str] = set()
    for dtype in (jnp.float32, jnp.complex64):
        for shape in ((16, 24), (24, 16)):
            draw = functools.partial(_call, init, shape=shape, dtype=dtype)
            found.update(lower(draw, platform).custom_calls)
    return frozenset(found)


@functools.cache
def elementwise_calls(platform: str) -> frozenset[str]:
    """The custom-call targets of jax's own elementwise initializers on ``platform``
    (``normal`` in float32, bfloat16, complex64; ``truncated_normal`` and
    ``uniform`` in the real two):
    none with jax 0.10; with jax 0.9 ``lax.erf`` exports as ``mhlo.erf``, the
    custom call through which StableHLO hands XLA an op it has natively."""
    found: set[str] = set()
    for init, dtypes in (
        (jax.nn.initializers.normal(), DTYPES),
        (jax.nn.initializers.truncated_normal(), DTYPES[:2]),  # real only
        (jax.nn.initializers.uniform(), DTYPES[:2]),
    ):
        for dtype in dtypes:
            draw = functools.partial(_call, init, shape=SHAPE, dtype=dtype)
            found.update(lower(draw, platform).custom_calls)
    return frozenset(found)


def _notable(lowered: Lowered) -> str:
    """Custom calls by name, then loops, sorts and RNG ops, with counts."""
    counts = collections.Counter(lowered.custom_calls)
    parts = [f"{name} x{n}" if n > 1 else name for name, n in sorted(counts.items())]
    for label, names in (("while", ("while",)), ("sort", ("sort",)), ("rng", RNG_OPS)):
        n = lowered.count(*names)
        if n:
            parts.append(f"{label} x{n}")
    effects = len(lowered.ordered_effects) + len(lowered.unordered_effects)
    if effects:
        parts.append(f"effects x{effects}")
    return ", ".join(parts) or "-"


def table(all_cases: list[Case] | None = None) -> str:
    """The markdown of ``benchmarks/results/lowering.md``."""
    all_cases = cases() if all_cases is None else all_cases
    qr = {platform: ", ".join(sorted(qr_calls(platform))) for platform in PLATFORMS}
    ew = {
        platform: ", ".join(sorted(elementwise_calls(platform))) or "none" for platform in PLATFORMS
    }
    lines = [
        "# What accelerators run: catalogue builders lowered for CUDA and TPU",
        "",
        f"Written by `python benchmarks/lowering.py` with jax {jax.__version__} (no timings: "
        "the file changes only when the lowering changes). Each row exports "
        "`jax.jit(lambda key: init(key, shape, dtype))` of the builder's catalogue example "
        f"(shape {SHAPE}, conv builders {(3, 3, *SHAPE)}) with `jax.export.export(..., "
        "platforms=(platform,))` on a CPU-only machine; the last row is the vmapped "
        "executable of one grouped `tree.init` draw. *Notable* lists custom calls by target, "
        "`while` loops, `sort` and RNG ops (`rng`, `rng_bit_generator`), with counts; "
        "*ops* counts StableHLO/CHLO ops in the module.",
        "",
        "jax's own `jax.nn.initializers.orthogonal` makes these custom calls, allowed in the "
        f"builders that take a QR (`tests/test_lowering.py`): cuda: {qr['cuda']}; tpu: "
        f"{qr['tpu']}. jax's own elementwise initializers make these, allowed everywhere: "
        f"cuda: {ew['cuda']}; tpu: {ew['tpu']}.",
        "",
        "| builder | dtype | " + " | ".join(f"{p} notable | {p} ops" for p in PLATFORMS) + " |",
        "|---|---|" + "---|---:|" * len(PLATFORMS),
    ]
    for case in all_cases:
        cells = []
        for platform in PLATFORMS:
            lowered = lower(case.fn, platform)
            cells += [_notable(lowered), str(sum(lowered.ops.values()))]
        lines.append(f"| {case.name} | {case.dtype} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    args.out.write_text(table())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
