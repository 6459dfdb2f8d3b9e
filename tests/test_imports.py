"""Importing the package has no side effects and pulls in no heavy library.

Each check runs in a fresh interpreter (this process has imported everything
already). ``jax`` is imported first: jax itself sets ``TF_CPP_MIN_LOG_LEVEL`` and
``TPU_SKIP_MDS_QUERY``, which is not ours to test. The import *time* is measured,
not tested (CONTRIBUTING.md, development notes).
"""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Libraries that only some functions need (plots, torch parity, adapters, tests).
HEAVY = ("matplotlib", "scipy", "torch", "flax", "haiku", "equinox", "optax", "chex", "sklearn")

#: Every module a user imports, the framework adapters and the command line included:
#: the adapters import their framework on first use, not on import.
MODULES = (
    "jax_inits",
    "jax_inits.diagnostics",
    "jax_inits.equinox",
    "jax_inits.flax",
    "jax_inits.haiku",
    "jax_inits.pytorch",
    "jax_inits.recipes",
    "jax_inits.sampling",
    "jax_inits.tree",
    "jax_inits.mup",
    "jax_inits.presets",
    "jax_inits.__main__",
)

#: Imports each module named in argv[1] in turn, in ONE fresh interpreter, and
#: reports after each import which listed libraries and environment variables it
#: brought in. In import order a module's report counts only what it adds: the
#: modules before it brought in nothing (or their own test fails).
_PROBE = """
import importlib, json, os, sys
import jax
reports = {}
for module in sys.argv[1].split(","):
    env = dict(os.environ)
    before = {m for m in sys.argv[2].split(",") if m in sys.modules}
    importlib.import_module(module)
    reports[module] = {
        "heavy": sorted(m for m in sys.argv[2].split(",") if m in sys.modules and m not in before),
        "env": sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)),
    }
print(json.dumps(reports))
"""


def _probe(*modules):
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(modules), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,  # the checkout's jax_inits
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def probed():
    """Every module of MODULES probed in one fresh interpreter (one start-up, not twelve)."""
    return _probe(*MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_import_loads_no_heavy_library_and_leaves_the_environment_alone(module, probed):
    found = probed[module]
    assert found["heavy"] == [], f"import {module} imported {found['heavy']}"
    assert found["env"] == [], f"import {module} changed os.environ: {found['env']}"


def test_the_probe_sees_an_import_and_an_environment_change():
    """The probe is not blind: an import of a listed module (json.tool here) and a
    variable set are both caught."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.replace("importlib.import_module(module)",
         "import json.tool; os.environ['X_JAX_INITS_PROBE'] = '1'"), "json", "json.tool"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "json": {"heavy": ["json.tool"], "env": ["X_JAX_INITS_PROBE"]}
    }


def test_every_public_module_is_probed():
    public = {
        f"jax_inits.{p.stem}" for p in (ROOT / "jax_inits").glob("*.py") if p.stem != "__init__"
    }
    assert public <= set(MODULES)


_LAZY_PROBE = """
import json, sys
import jax_inits
names = sys.argv[1].split(",")
before = [n for n in names if f"jax_inits.{n}" in sys.modules]
listed = [n for n in names if n in dir(jax_inits)]
same = [n for n in names if getattr(jax_inits, n) is sys.modules[f"jax_inits.{n}"]]
try:
    jax_inits.no_such_module
    missing = "no error"
except AttributeError as e:
    missing = str(e)
print(json.dumps({"before": before, "listed": listed, "same": same, "missing": missing,
                  "heavy": sorted(m for m in sys.argv[2].split(",") if m in sys.modules)}))
"""


def test_every_public_submodule_is_an_attribute_loaded_on_first_access():
    """After ``import jax_inits`` alone, ``jax_inits.tree`` (and every other public
    module) is an attribute and in ``dir()``; the framework adapters, tree, mup,
    presets, diagnostics and sampling load on first access, and accessing all of them
    still imports no heavy library."""
    names = sorted(m.split(".")[1] for m in MODULES if m.count(".") == 1 and "__" not in m)
    result = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE, ",".join(names), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    lazy = ["diagnostics", "equinox", "flax", "haiku", "mup", "presets", "sampling", "tree"]
    assert found["before"] == ["pytorch", "recipes"]  # imported with the package: registered
    assert sorted(found["before"] + lazy) == names
    assert found["listed"] == found["same"] == names
    assert found["missing"] == "module 'jax_inits' has no attribute 'no_such_module'"
    assert found["heavy"] == []


# --- issue 30.15: a missing optional package names the extra to install ----------------


def _missing(monkeypatch, *modules):
    for module in modules:  # an import of a None entry raises ModuleNotFoundError
        for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
            monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.setitem(sys.modules, module, None)


def test_a_missing_framework_names_the_extra(monkeypatch):
    import jax

    import jax_inits
    import jax_inits.equinox
    import jax_inits.flax
    import jax_inits.haiku

    key = jax.random.key(0)
    _missing(monkeypatch, "flax", "equinox", "haiku")
    with pytest.raises(
        ModuleNotFoundError,
        match=r"^flax.create needs flax \(the package 'flax'\), which is not installed: "
        r"pip install 'jax-inits\[frameworks\]'",
    ):
        jax_inits.flax.create(lambda rngs: None, key)
    with pytest.raises(ModuleNotFoundError, match=r"^equinox.create needs equinox .*frameworks"):
        jax_inits.equinox.create(lambda k: None, key)
    with pytest.raises(
        ModuleNotFoundError, match=r"^to_haiku needs haiku \(the package 'dm-haiku'\)"
    ):
        jax_inits.haiku.to_haiku(jax_inits.normal())((2,), "float32")


def test_a_missing_optax_names_the_extra(monkeypatch):
    import jax_inits.diagnostics

    _missing(monkeypatch, "optax")
    with pytest.raises(
        ModuleNotFoundError,
        match=r"^diagnostics.coord_check_mlp needs optax .*pip install 'jax-inits\[cli\]'",
    ):
        jax_inits.diagnostics.coord_check_mlp("sp")
