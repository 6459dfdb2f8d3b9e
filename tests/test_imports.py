"""Importing the package has no side effects and pulls in no heavy library.

Each check runs in a fresh interpreter (this process has imported everything
already). ``jax`` is imported first: jax itself sets ``TF_CPP_MIN_LOG_LEVEL`` and
``TPU_SKIP_MDS_QUERY``, which is not ours to test. The import *time* is measured,
not tested (README, development notes).
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

_PROBE = """
import importlib, json, os, sys
import jax
env = dict(os.environ)
importlib.import_module(sys.argv[1])
print(json.dumps({
    "heavy": sorted(m for m in sys.argv[2].split(",") if m in sys.modules),
    "env": sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)),
}))
"""


def _probe(module):
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,  # the checkout's jax_inits
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_import_loads_no_heavy_library_and_leaves_the_environment_alone(module):
    found = _probe(module)
    assert found["heavy"] == [], f"import {module} imported {found['heavy']}"
    assert found["env"] == [], f"import {module} changed os.environ: {found['env']}"


def test_the_probe_sees_an_import_and_an_environment_change():
    """The probe is not blind: an import of a listed module (json.tool here) and a
    variable set are both caught."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.replace("importlib.import_module(sys.argv[1])",
         "import json.tool; os.environ['X_JAX_INITS_PROBE'] = '1'"), "json", "json.tool"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"heavy": ["json.tool"], "env": ["X_JAX_INITS_PROBE"]}


def test_every_public_module_is_probed():
    public = {
        f"jax_inits.{p.stem}" for p in (ROOT / "jax_inits").glob("*.py") if p.stem != "__init__"
    }
    assert public <= set(MODULES)
