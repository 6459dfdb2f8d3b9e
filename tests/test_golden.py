"""Initial values are part of the API: a seed gives the values it gave before.

``tests/golden/values.json`` holds the fingerprint of every case that
``tests/golden/update.py`` makes (every catalogue builder by dtype, shape and key
implementation, grouped ``tree.init``, the presets, mup). The expected values are
the committed file, written by an earlier checkout: a refactor that changes any
bit fails here, naming the builders that changed. A deliberate change is
``python tests/golden/update.py --update`` and a line in CHANGELOG under
"Changed values".

`make test` checks one case per (implementation, distribution) as
``tests/_subsets.py`` picks the builders (threefry, the first shape, float32 or
complex64) except those the jax.nn parity tests pin in `make test` already
(jax.nn's names), one bfloat16 and one rbg case, and one grouped ``tree.init``,
one preset and one mup scheme; `make test-slow` checks every case, and that the
file holds no case the script no longer makes.

The fingerprints are CPU bits (see the script): on another default backend the
tests skip. The QR-based builders reach LAPACK, whose bits depend on the CPU's
OpenBLAS kernels: their draw is pinned bit for bit and their values to a
tolerance (the script's LAPACK section); the tests below show that the
tolerance still catches another seed or formula, and the slow tier runs the
whole check under two OpenBLAS kernels in fresh processes.
"""

import importlib.util
import os
import pathlib
import platform
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _gates import golden_values_pinned
from _subsets import REPRESENTATIVES

import jax_inits

_spec = importlib.util.spec_from_file_location(
    "golden_update", pathlib.Path(__file__).resolve().parent / "golden" / "update.py"
)
golden = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = golden
_spec.loader.exec_module(golden)

pytestmark = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="golden values are the CPU's bits"
)

#: Beyond the representatives' first threefry case: other dtypes and key kinds.
FAST_EXTRA = (
    "truncated_normal|bfloat16|4x6|threefry2x32",
    "he_normal|float32|4x6|rbg",
    "tree.init|grouped|threefry2x32",
    "presets|hf_gpt2|threefry2x32",
    "mup|mup|threefry2x32",
)


#: Representatives whose float32 threefry values the jax.nn parity tests pin in
#: `make test` already (jax.nn has a builder of the same name).
PINNED_BY_PARITY = frozenset(n for n in REPRESENTATIVES if hasattr(jax.nn.initializers, n))


def _fast_cases():
    builders = golden.builder_cases(REPRESENTATIVES - PINNED_BY_PARITY)
    firsts = {}
    for cid, (owner, _) in builders.items():
        if cid.endswith("|threefry2x32"):
            firsts.setdefault(owner, cid)
    every = {**golden.builder_cases(["truncated_normal", "he_normal"]), **golden.tree_cases()}
    chosen = {cid: builders[cid] for cid in firsts.values()}
    chosen.update({cid: every[cid] for cid in FAST_EXTRA})
    return chosen


def test_fast_cases_cover_every_representative():
    owners = {owner for owner, _ in _fast_cases().values()}
    assert owners >= REPRESENTATIVES - PINNED_BY_PARITY
    assert {"orthogonal", "normal", "variance_scaling"} <= PINNED_BY_PARITY


@golden_values_pinned
def test_values_match_the_committed_fingerprints():
    cases = _fast_cases()
    report = golden.changes(cases, golden.compute(cases), golden.load())
    assert cases.keys() & golden.load().near.keys(), "no QR-based case in make test"
    assert not report, report


@golden_values_pinned
@pytest.mark.slow
def test_every_value_matches_the_committed_fingerprints():
    cases = golden.all_cases()
    want = golden.load()
    report = golden.changes(cases, golden.compute(cases), want)
    assert not report, report
    stale = sorted(set(want.fingerprints) - set(cases))
    assert not stale, f"values.json has cases the script no longer makes: {stale}"


def test_a_changed_value_names_its_builder_and_the_changelog():
    """The failure message is what a reviewer needs: the builders, the cases, the fix."""
    cases = golden.builder_cases(["normal"])
    cid = next(iter(cases))
    want = golden.load()
    got = golden.Values({**want.fingerprints, cid: "0" * 16}, want.near, {})
    report = golden.changes(cases, got, want)
    assert "builder(s): normal." in report
    assert cid in report and "--update" in report and "Changed values" in report
    assert golden.changes(cases, want, want) == ""


# ----------------------------------------------------------------------------- LAPACK cases

#: A QR-based case in `make test` (float32: its tolerance is the tight one).
QR_CASE = "orthogonal|float32|4x6|threefry2x32"


def _qr_case(seed_offset: int = 0):
    owner, draw = golden.builder_cases(["orthogonal"])[QR_CASE]
    return {QR_CASE: (owner, lambda k: draw(jax.random.fold_in(k, 1) if seed_offset else k))}


@golden_values_pinned
def test_the_lapack_tolerance_catches_another_seed_and_another_formula():
    """The committed QR values are matched within a tolerance (a few float32 ulps
    of LAPACK's rounding); the check must still fail for what a real change gives:
    another key (the draw differs), Q without Mezzadri's sign fix (the formula
    differs, the draw does not), and pass a 1-ulp move of every value (what
    another OpenBLAS kernel gives). One 4x6 float32 case, seed 20261206."""
    want = golden.load()
    same = golden.compute(_qr_case())
    assert QR_CASE in same.near, "the orthogonal case must be found to reach LAPACK"
    assert golden.changes(_qr_case(), same, want) == ""

    other_key = golden.compute(_qr_case(seed_offset=1))
    assert other_key.fingerprints[QR_CASE] != want.fingerprints[QR_CASE]
    assert not golden.within(other_key.near[QR_CASE], want.near[QR_CASE], same.dtypes[QR_CASE])

    with golden.qr_replaced(lambda z: (lambda q, r: (q, jnp.abs(r)))(*jnp.linalg.qr(z))):
        unsigned = golden._evaluate(_qr_case(), 64)[QR_CASE]
    numbers, dtypes = golden._flat(unsigned)
    assert not golden.within(numbers, want.near[QR_CASE], dtypes), "sign fix not caught"

    moved = np.nextafter(np.float32(want.near[QR_CASE]), np.float32(np.inf)).astype(float)
    assert golden.within(moved.tolist(), want.near[QR_CASE], dtypes)


def test_lapack_is_reached_only_through_sampling_qr():
    """The draw of a QR case is pinned by recording what enters `sampling.qr`: that
    holds only if no other code of the package calls LAPACK. Checked in the source
    (every ``linalg`` call) and in the trace (no LAPACK primitive left when
    `sampling.qr` is replaced by one that calls none)."""
    package = pathlib.Path(jax_inits.__file__).parent
    calls = [
        (str(path.relative_to(package)), line.strip())
        for path in sorted(package.rglob("*.py"))
        for line in path.read_text().splitlines()
        if re.search(r"\blinalg\.\w+\(", line.split("#")[0])
    ]
    assert calls == [("_src/sampling.py", "return jnp.linalg.qr(z)")], calls
    _, draw = _qr_case()[QR_CASE]
    assert golden.lapack_calls(draw) == {"qr"}
    skipped = golden.qr_replaced(lambda z: (z, jnp.eye(z.shape[-1], dtype=z.dtype)))
    with skipped:
        assert golden.lapack_calls(draw) == set()


def _second_core_type() -> str:
    """An OpenBLAS kernel this CPU runs, other than Prescott (every x86-64 has SSE3)."""
    flags = pathlib.Path("/proc/cpuinfo").read_text() if os.path.exists("/proc/cpuinfo") else ""
    return "Haswell" if re.search(r"\bavx2\b", flags) else "Nehalem"


@golden_values_pinned
@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 core types")
@pytest.mark.parametrize("core_type", ["Prescott", "second"])
def test_golden_values_hold_under_other_openblas_kernels(core_type):
    """The whole golden check (``tests/golden/update.py``, every case) in a fresh
    process whose OpenBLAS is forced to another kernel: Prescott (SSE3, the
    baseline of every x86-64) and Haswell (AVX2) or, without AVX2, Nehalem. The
    QR-based values move by a few ulps between them; the check passes on each."""
    core_type = _second_core_type() if core_type == "second" else core_type
    env = {**os.environ, "OPENBLAS_CORETYPE": core_type, "JAX_PLATFORMS": "cpu"}
    script = pathlib.Path(__file__).resolve().parent / "golden" / "update.py"
    run = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, f"OPENBLAS_CORETYPE={core_type}:\n{run.stdout}{run.stderr}"
    assert "fingerprints match" in run.stdout
