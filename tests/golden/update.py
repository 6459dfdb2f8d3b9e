"""Golden fingerprints of initial values: what a seed gives, pinned.

Run ``python tests/golden/update.py`` to compare the values this checkout gives
with ``tests/golden/values.json`` (exit 1 and the changed cases if any), and
``python tests/golden/update.py --update`` to rewrite the file after a
*deliberate* change of values (then say so in CHANGELOG under "Changed values").
``tests/test_golden.py`` runs the same comparison: a subset in `make test`, every
case in `make test-slow`.

A case is a function of the root key returning an array or a tree of arrays;
its value is ``jax_inits.tree.fingerprint`` of the result (paths, dtypes, shapes
and every bit), the first 16 hex digits. The cases:

* every catalogue builder (``jax_inits._src.catalog``: jax's names, structural,
  complex, pytorch, recipes) in float32, bfloat16 and complex64 where it takes
  the dtype, on two or three tiny shapes, with a threefry key; in float32 on one
  shape with an rbg key (rbg draws come from ``jax.random`` itself);
* ``tree.init`` with grouped draws (eager: one vmapped draw per group), both
  key implementations;
* every preset of ``jax_inits.presets`` on a small transformer spec;
* ``jax_inits.mup.parametrize(...).init`` for every scheme.

Builder cases are computed in one ``jax.jit`` per batch (compiling dominates, and
one module compiles the batch faster than one executable per case); the traced
and eager paths give the same bits (``tests/test_contexts.py``,
``tests/test_parity.py``), so these are the values an eager call returns too.

Bits, not tolerances: the values are hashed bit for bit. They are the bits of
the CPU, where the suite runs (XLA's CPU backend, any x86-64 or arm64 machine:
the kernels are integer threefry plus float arithmetic that XLA evaluates in the
same IEEE order). A GPU or TPU computes ``erf_inv``, ``log``, ``sin``/``cos`` and
the QR with its own libraries, whose last bits may differ; the file makes no
claim about those, and the test skips on any default backend but the CPU.

The one exception is LAPACK. A case whose trace reaches a LAPACK primitive (the
QR of the orthogonal family: found in the jaxpr, `lapack_calls`) gets its bits
from the LAPACK that jaxlib loads, OpenBLAS through scipy, which picks its
kernels per processor; and what it computes from Q (``recipes.block_orthogonal``
multiplies Q's) is matrix products, whose summation order XLA chooses per
release and CPU. For such a case the fingerprint is of its *draw*: the Gaussian
matrices it passes to ``sampling.qr`` (`qr_inputs`), threefry and ``erf_inv``
only, so the key handling and the sampler are still pinned bit for bit; and its
final values are kept in the file's ``lapack`` section and matched within
`LAPACK_ATOL` of the largest magnitude plus `LAPACK_ULPS` ulps of the dtype
(`within`): a few ulps apart on another CPU, O(1) apart for another seed or
formula.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import pathlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jax_inits
import jax_inits.mup
import jax_inits.presets
import jax_inits.tree
from jax_inits._src import catalog, dispatch, sampling

PATH = pathlib.Path(__file__).resolve().parent / "values.json"
#: The root seed of every case, and the key implementations.
SEED = 20261206
IMPLS = ("threefry2x32", "rbg")
DTYPES = ("float32", "bfloat16", "complex64")
#: Matrix shapes (conv builders: behind a 3x3 window); rank 3 too where allowed.
SHAPES = ((4, 6), (6, 4))
RANK3 = (2, 3, 4)
#: How many digits of the fingerprint are kept (64 bits: a change never collides).
DIGITS = 16

Case = tuple[str, Callable[[jax.Array], Any]]  # (name, function of the key)


def key(impl: str) -> jax.Array:
    return jax.random.key(SEED, impl=impl)


def _shapes(entry: catalog.Entry) -> list[tuple[int, ...]]:
    shapes = [entry.shape(s) for s in SHAPES]
    return shapes if entry.conv or entry.matrix else [*shapes, RANK3]


def _accepts(init: Any, shape: tuple[int, ...], dtype: str) -> bool:
    try:  # the builder's own call checks decide what a case is
        dispatch._checked(init, key("threefry2x32"), shape, dtype)
    except (TypeError, ValueError):
        return False
    return True


def _draw(init: Any, shape: tuple[int, ...], dtype: str) -> Callable[[jax.Array], Any]:
    return lambda k: init(k, shape, dtype)


def builder_cases(names: Iterable[str] | None = None) -> dict[str, Case]:
    """``"builder|dtype|shape|impl"`` -> case, for the catalogue entries ``names``."""
    wanted = None if names is None else set(names)
    out: dict[str, Case] = {}
    for entry in catalog.ENTRIES:
        if wanted is not None and entry.name not in wanted:
            continue
        for dtype in DTYPES:
            for shape in _shapes(entry):
                if _accepts(entry.example, shape, dtype):
                    name = f"{entry.name}|{dtype}|{'x'.join(map(str, shape))}"
                    out[f"{name}|threefry2x32"] = (entry.name, _draw(entry.example, shape, dtype))
        shape = entry.shape(SHAPES[0])
        dtype = entry.dtype("float32")
        if _accepts(entry.example, shape, dtype.name):
            name = f"{entry.name}|{dtype.name}|{'x'.join(map(str, shape))}|rbg"
            out[name] = (entry.name, _draw(entry.example, shape, dtype.name))
    return out


def _sds(*shape: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def transformer_spec(width: int = 8, layers: int = 1) -> dict[str, Any]:
    """A small transformer whose leaf names match the presets' default patterns."""
    d, f, v = width, 2 * width, 10
    block = {
        "attn": {
            "q_proj": {"kernel": _sds(d, d), "bias": _sds(d)},
            "k_proj": {"kernel": _sds(d, d)},
            "v_proj": {"kernel": _sds(d, d)},
            "o_proj": {"kernel": _sds(d, d), "bias": _sds(d)},
        },
        "mlp": {
            "gate_proj": {"kernel": _sds(d, f)},
            "up_proj": {"kernel": _sds(d, f), "bias": _sds(f)},
            "down_proj": {"kernel": _sds(f, d), "bias": _sds(d)},
        },
        "ln": {"scale": _sds(d), "bias": _sds(d)},
    }
    return {
        "embed_tokens": {"embedding": _sds(v, d)},
        "pos_embed": _sds(1, 4, d),
        "cls_token": _sds(1, 1, d),
        "patch_embed": {"kernel": _sds(2, 2, 3, d), "bias": _sds(d)},
        "layers": {str(i): block for i in range(layers)},
        "lm_head": {"kernel": _sds(d, v)},
    }


#: Every preset with the arguments its case uses.
PRESETS: dict[str, Callable[[], list]] = {
    "torch_defaults": lambda: jax_inits.presets.torch_defaults(),
    "torch_defaults(mha)": lambda: jax_inits.presets.torch_defaults(multihead_attention=True),
    "hf_llama": lambda: jax_inits.presets.hf_llama(padding_idx=0),
    "hf_bert": lambda: jax_inits.presets.hf_bert(),
    "hf_gpt2": lambda: jax_inits.presets.hf_gpt2(2),
    "hf_t5": lambda: jax_inits.presets.hf_t5(8, 4),
    "timm_vit": lambda: jax_inits.presets.timm_vit(),
    "timm_vit(jax)": lambda: jax_inits.presets.timm_vit("jax"),
    "timm_vit(moco)": lambda: jax_inits.presets.timm_vit("moco"),
    "torchtitan_llama": lambda: jax_inits.presets.torchtitan_llama(),
    "olmo": lambda: jax_inits.presets.olmo(),
    "olmo(hf)": lambda: jax_inits.presets.olmo("hf"),
}
#: The catch-all rule after a preset's own (a leaf no role of the preset names).
CATCH_ALL = ("*", jax_inits.zeros)
MUP_INIT = [("*/bias", jax_inits.zeros), ("*", jax_inits.lecun_normal())]


def _mlp(width: int) -> dict[str, Any]:
    return {
        "fc1": {"kernel": _sds(6, width), "bias": _sds(width)},
        "fc2": {"kernel": _sds(width, width), "bias": _sds(width)},
        "head": {"kernel": _sds(width, 5), "bias": _sds(5)},
    }


def _tree_init(spec: Any, rules: Any) -> Callable[[jax.Array], Any]:
    return lambda k: jax_inits.tree.init(k, spec, rules)


#: The depth schemes' arguments: fc2 as the residual blocks, at 4x the base depth
#: (u_mup takes them too: its block lr depends on the depth).
DEPTH = {"blocks": "fc2/*", "depth": 8, "base_depth": 2}


def _mup_init(scheme: str) -> Callable[[jax.Array], Any]:
    depth = DEPTH if scheme in ("depth_mup", "complete_p", "u_mup") else {}
    p = jax_inits.mup.parametrize(
        _mlp(16), _mlp(4), readout="head/*", init=MUP_INIT, scheme=scheme, **depth
    )
    return p.init


def tree_cases() -> dict[str, Case]:
    """Grouped tree.init (eager), the presets and mup: ``"kind|name|impl"`` -> case."""
    grouped_spec = {
        **{f"dense{i}": {"kernel": _sds(4, 6), "bias": _sds(6)} for i in range(3)},
        "out": {"kernel": _sds(6, 2)},
    }
    grouped_rules = [("*kernel", jax_inits.he_normal()), ("*bias", jax_inits.normal(0.1))]
    out: dict[str, Case] = {}
    for impl in IMPLS:
        out[f"tree.init|grouped|{impl}"] = ("tree.init", _tree_init(grouped_spec, grouped_rules))
    spec = transformer_spec()
    for name, rules in PRESETS.items():
        out[f"presets|{name}|threefry2x32"] = (
            f"presets.{name}",
            _tree_init(spec, [*rules(), CATCH_ALL]),
        )
    for scheme in jax_inits.mup.SCHEMES:
        out[f"mup|{scheme}|threefry2x32"] = (f"mup.{scheme}", _mup_init(scheme))
    return out


def all_cases() -> dict[str, Case]:
    return {**builder_cases(), **tree_cases()}


def _impl(case_id: str) -> str:
    return case_id.rsplit("|", 1)[1]


# ----------------------------------------------------------------------------- LAPACK

#: Primitives that jax's CPU backend lowers to LAPACK/BLAS calls (jaxlib takes them
#: from scipy's OpenBLAS, which picks its kernels per processor).
LAPACK_PRIMITIVES = frozenset(
    {
        "qr",
        "geqrf",
        "geqp3",
        "householder_product",
        "eigh",
        "eig",
        "svd",
        "cholesky",
        "lu",
        "triangular_solve",
        "schur",
        "hessenberg",
        "tridiagonal",
        "tridiagonal_solve",
    }
)
#: The tolerance of a LAPACK case's final values, relative to the case's largest
#: magnitude (entries of a scaled orthogonal matrix): a different OpenBLAS kernel
#: moves a float32 QR of these tiny matrices by a few ulps (~1e-7); another seed
#: or formula moves them by O(1).
LAPACK_ATOL = 1e-5
#: Plus this many ulps of the leaf's own dtype, relative to each value: a
#: bfloat16 result rounded from a float32 QR that moved by an ulp may round the
#: other way.
LAPACK_ULPS = 2


def _primitives(jaxpr: Any, found: set[str]) -> set[str]:
    for eqn in jaxpr.eqns:
        found.add(eqn.primitive.name)
        for param in eqn.params.values():
            for value in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(value, "jaxpr", value)  # a ClosedJaxpr or a Jaxpr
                if hasattr(inner, "eqns"):
                    _primitives(inner, found)
    return found


def lapack_calls(fn: Callable[[jax.Array], Any], impl: str = "threefry2x32") -> set[str]:
    """The LAPACK-backed primitives that ``fn(key)`` traces to (jit, cond and scan
    bodies included): empty for a case whose bits are the CPU's own arithmetic."""
    jaxpr = jax.make_jaxpr(fn)(key(impl)).jaxpr
    return _primitives(jaxpr, set()) & LAPACK_PRIMITIVES


@contextlib.contextmanager
def qr_replaced(qr: Callable[[jax.Array], tuple[jax.Array, jax.Array]]):
    """Within: ``sampling.qr`` is ``qr``. Every cache, ours and jax's, is emptied on
    the way in and out: no trace made with one QR is reused with the other."""
    original = sampling.qr
    jax_inits.clear_caches()
    jax.clear_caches()
    sampling.qr = qr
    try:
        yield
    finally:
        sampling.qr = original
        jax_inits.clear_caches()
        jax.clear_caches()


def qr_inputs(fn: Callable[[jax.Array], Any], k: jax.Array) -> list[np.ndarray]:
    """The matrices ``fn(k)`` passes to ``sampling.qr`` (its Gaussian draws), sent
    to the host by a callback from wherever they are traced (nested jits, vmap),
    in an order of their own fingerprints (callbacks have no fixed order)."""
    seen: list[np.ndarray] = []
    original = sampling.qr

    def recording(z):
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), z)
        return original(z)

    with qr_replaced(recording):
        jax.block_until_ready(jax.jit(fn)(k))
    return sorted(seen, key=lambda z: jax_inits.tree.fingerprint({"z": z}))


# ----------------------------------------------------------------------------- values


@dataclasses.dataclass
class Values:
    """What a checkout gives: ``fingerprints`` for every case (for a LAPACK case,
    of the Gaussian matrices it passes to ``sampling.qr``: bit for bit on any CPU) and ``near``,
    the final values of the LAPACK cases (flattened, complex as real pairs), to
    be matched within `within`."""

    fingerprints: dict[str, str]
    near: dict[str, list[float]]
    dtypes: dict[str, list[str]]


def _evaluate(cases: dict[str, Case], batch: int) -> dict[str, Any]:
    """The value of every case: builder cases (``|``-named by dtype) in jitted
    batches of ``batch``, tree cases eagerly (the grouped path)."""
    jitted = {
        cid: c for cid, c in cases.items() if not cid.startswith(("tree.", "presets|", "mup|"))
    }
    values: dict[str, Any] = {}
    ids = list(jitted)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]

        def run(keys, chunk=chunk):
            return {cid: jitted[cid][1](keys[_impl(cid)]) for cid in chunk}

        values.update(jax.jit(run)({impl: key(impl) for impl in IMPLS}))
    for cid, (_, fn) in cases.items():
        if cid not in jitted:
            values[cid] = fn(key(_impl(cid)))
    return values


def _fingerprint(value: Any) -> str:
    return jax_inits.tree.fingerprint({"value": value})[:DIGITS]


def _flat(value: Any) -> tuple[list[float], list[str]]:
    """Every element of ``value`` as floats (complex as real, imaginary), with
    each element's dtype name."""
    numbers: list[float] = []
    dtypes: list[str] = []
    for leaf in jax.tree.leaves(value):
        a = np.asarray(leaf)
        real = a.view(np.float32) if a.dtype == np.complex64 else a
        real = real.view(np.float64) if a.dtype == np.complex128 else real
        flat = np.asarray(real, np.float64).ravel()
        numbers += flat.tolist()
        dtypes += [a.dtype.name] * flat.size
    return numbers, dtypes


def compute(cases: dict[str, Case], batch: int = 64) -> Values:
    """What this checkout gives for ``cases``: fingerprints, and the LAPACK cases'
    values (the cases whose trace reaches a primitive of `LAPACK_PRIMITIVES`)."""
    values = _evaluate(cases, batch)
    lapack = {cid for cid, (_, fn) in cases.items() if lapack_calls(fn, _impl(cid))}
    draws = {cid: qr_inputs(cases[cid][1], key(_impl(cid))) for cid in sorted(lapack)}
    for cid in lapack:
        if not draws[cid]:
            raise RuntimeError(
                f"golden: {cid} calls LAPACK outside `sampling.qr`, so its draw cannot be "
                "pinned apart from LAPACK's bits; route the call through `sampling.qr`."
            )
    fingerprints = {cid: _fingerprint(draws.get(cid, values[cid])) for cid in cases}
    flat = {cid: _flat(values[cid]) for cid in sorted(lapack)}
    return Values(
        fingerprints,
        {cid: numbers for cid, (numbers, _) in flat.items()},
        {cid: dtypes for cid, (_, dtypes) in flat.items()},
    )


def within(got: list[float], want: list[float], dtypes: list[str]) -> bool:
    """Whether a LAPACK case's values match the committed ones: ``|got - want| <=
    LAPACK_ATOL * max|want| + LAPACK_ULPS * eps(dtype) * |want|`` element by element."""
    if len(got) != len(want):
        return False
    g, w = np.asarray(got), np.asarray(want)
    eps = np.array([jnp.finfo(d).eps for d in dtypes], np.float64)
    scale = max(float(np.max(np.abs(w), initial=0.0)), np.finfo(np.float32).tiny)
    return bool(np.all(np.abs(g - w) <= LAPACK_ATOL * scale + LAPACK_ULPS * eps * np.abs(w)))


def load() -> Values:
    data = json.loads(PATH.read_text())
    return Values(data["values"], data.get("lapack", {}), {})


def changes(cases: dict[str, Case], got: Values, want: Values) -> str:
    """A report of the cases whose values differ from ``want`` (empty if none),
    naming every builder (or preset, tree case) that changed: a fingerprint that
    is not the committed one, a LAPACK case outside its tolerance, or a case that
    reaches LAPACK in one and not the other."""
    bits = {cid for cid in cases if want.fingerprints.get(cid) != got.fingerprints.get(cid)}
    near = {
        cid
        for cid in cases
        if (cid in got.near) != (cid in want.near)
        or (cid in got.near and not within(got.near[cid], want.near[cid], got.dtypes[cid]))
    }
    changed = sorted(bits | near)
    if not changed:
        return ""
    owners = sorted({cases[cid][0] for cid in changed})
    missing = [cid for cid in changed if cid not in want.fingerprints]
    lines = [
        f"Initial values changed for {len(owners)} builder(s): {', '.join(owners)}.",
        "If the change is deliberate, run `python tests/golden/update.py --update`, commit "
        "tests/golden/values.json and list the builders in CHANGELOG.md under "
        '"Changed values"; otherwise a refactor changed what a seed gives.',
        "Cases (builder|dtype|shape|key impl: committed -> now):",
    ]
    for cid in changed:
        if cid in bits:
            was, now = want.fingerprints.get(cid, "absent"), got.fingerprints.get(cid)
            what = "draw before QR " if cid in got.near else ""
            lines.append(f"  {cid}: {what}{was} -> {now}")
        if cid in near:
            lines.append(f"  {cid}: values after QR {_near_diff(cid, got, want)}")
    if missing:
        lines.append(f"({len(missing)} case(s) are new: not in the committed file.)")
    return "\n".join(lines)


def _near_diff(cid: str, got: Values, want: Values) -> str:
    if cid not in want.near:
        return "now reach LAPACK (committed: bit-exact)"
    if cid not in got.near:
        return "no longer reach LAPACK"
    g, w = np.asarray(got.near[cid]), np.asarray(want.near[cid])
    if g.shape != w.shape:
        return f"have {g.size} elements, committed {w.size}"
    return f"differ by up to {float(np.max(np.abs(g - w))):.3g} (beyond the tolerance)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite values.json")
    args = parser.parse_args(argv)
    if jax.default_backend() != "cpu":
        print("golden values are CPU bits: run on the CPU (JAX_PLATFORMS=cpu)")
        return 2
    cases = all_cases()
    got = compute(cases)
    if args.update:
        data = {
            "about": "Fingerprints of initial values; see tests/golden/update.py.",
            "jax": jax.__version__,
            "seed": SEED,
            "values": dict(sorted(got.fingerprints.items())),
            "lapack": got.near,
        }
        PATH.write_text(json.dumps(data, indent=1) + "\n")
        print(
            f"wrote {len(got.fingerprints)} fingerprints ({len(got.near)} LAPACK cases) to {PATH}"
        )
        return 0
    want = load()
    stale = sorted(set(want.fingerprints) - set(cases))
    report = changes(cases, got, want)
    if stale:
        report += f"\nCases no longer made: {stale}"
    n = len(got.fingerprints)
    print(report or f"all {n} fingerprints match ({len(got.near)} LAPACK cases within tolerance)")
    return 1 if report else 0


if __name__ == "__main__":
    sys.exit(main())
