"""The package as a user installs it: the wheel and sdist that ``python -m build``
makes, and the wheel installed into a fresh venv (slow tier).

The build runs on a copy of the checkout (so no ``build/`` or ``*.egg-info`` lands in
the working tree). The fresh venv has no editable install and no extras: pip
brings only the declared dependencies (jax, jaxlib, numpy) from the configured
index or its cache; README's quick start and ``jax-inits list`` then run from it in
an empty folder, without ``PYTHONPATH``.
"""

from __future__ import annotations

import email
import os
import pathlib
import re
import shutil
import subprocess
import sys
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import _doc_blocks  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "site", "out", "build", "dist", "__pycache__", "*.egg-info", ".*cache"
)


def _need(module: str) -> None:
    """``module`` (build, twine: the `dev` extra) is importable; under CI its absence
    fails the check instead of skipping it."""
    try:
        __import__(module)
    except ImportError:
        message = f"`{module}` is not installed: pip install {module} (the `dev` extra)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the wheel check: {message}")
        pytest.skip(message)


def _pyproject():
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    _need("build")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return tmp / "dist"


def _wheel(dist):
    (wheel,) = dist.glob("*.whl")
    return wheel


@pytest.mark.slow
def test_build_makes_a_wheel_and_an_sdist_that_twine_accepts(dist):
    _need("twine")
    files = sorted(p.name for p in dist.iterdir())
    assert [re.sub(r"\d+\.\d+\.\d+", "V", f) for f in files] == [
        "jax_inits-V-py3-none-any.whl",
        "jax_inits-V.tar.gz",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_its_metadata_only(dist):
    import jax_inits

    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = wheel.namelist()
        info = f"jax_inits-{jax_inits.__version__}.dist-info/"
        metadata = email.message_from_bytes(wheel.read(info + "METADATA"))
    outside = [n for n in names if not n.startswith(("jax_inits/", info))]
    assert outside == [], outside  # no tests, benchmarks, docs or examples
    assert "jax_inits/py.typed" in names and "jax_inits/_src/sampling.py" in names
    assert {p.stem for p in (ROOT / "jax_inits").glob("*.py")} <= {
        pathlib.PurePath(n).stem for n in names if n.count("/") == 1
    }
    project = _pyproject()
    assert metadata["Version"] == jax_inits.__version__
    assert metadata["Requires-Python"] == project["requires-python"]
    plain = [d for d in metadata.get_all("Requires-Dist") if "extra ==" not in d]
    assert plain == project["dependencies"]
    assert sorted(metadata.get_all("Provides-Extra")) == sorted(project["optional-dependencies"])
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        scripts = wheel.read(info + "entry_points.txt").decode()
    assert "jax-inits = jax_inits.__main__:_main" in scripts


def test_version_has_one_source():
    """``jax_inits.__version__`` is what the installed metadata says (pyproject reads
    it from the package), and CHANGELOG has a release section for it."""
    import importlib.metadata

    import jax_inits

    assert jax_inits.__version__ == importlib.metadata.version("jax-inits")
    assert re.match(r"^\d+\.\d+\.\d+$", jax_inits.__version__)
    assert "version" not in _pyproject() and "version" in _pyproject()["dynamic"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    release = rf"^## \[{re.escape(jax_inits.__version__)}\] - \d{{4}}-\d\d-\d\d$"
    assert re.search(release, changelog, re.M)


def test_readme_supported_versions_names_the_declared_floor():
    """README's "Supported versions" says what the metadata requires."""
    project = _pyproject()
    (jax_floor,) = [d.split(">=")[1] for d in project["dependencies"] if d.startswith("jax>=")]
    python_floor = project["requires-python"].removeprefix(">=")
    section = (ROOT / "README.md").read_text().split("## Supported versions", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert f"jax ≥ {jax_floor}" in section, section
    assert f"Python ≥ {python_floor}" in section, section


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_runs_the_quick_start(dist, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(_wheel(dist))],
        capture_output=True,
        text=True,
        timeout=900,
        env=run_env,
    )
    assert install.returncode == 0, install.stderr[-4000:]
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        env=run_env,
    ).stdout.lower()
    for extra in ("pytest", "matplotlib", "torch", "flax", "chex"):
        assert f"\n{extra}==" not in "\n" + installed, f"{extra} came with the plain wheel"

    work = tmp_path / "work"
    work.mkdir()
    line, quick_start, skip = _doc_blocks.blocks((ROOT / "README.md").read_text())[0]
    assert skip is None and quick_start.startswith("import jax\n"), quick_start
    script = (
        "import jax_inits, pathlib\n"
        "assert 'site-packages' in jax_inits.__file__, jax_inits.__file__\n"
        + quick_start
        + "\nprint('quick start ok')\n"
    )
    result = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, cwd=work, env=run_env
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "quick start ok" in result.stdout

    listing = subprocess.run(
        [str(env_dir / "bin" / "jax-inits"), "list"],
        capture_output=True,
        text=True,
        cwd=work,
        env=run_env,
        timeout=300,
    )
    assert listing.returncode == 0, listing.stderr[-4000:]
    assert "he_normal" in listing.stdout and "recipes.small_init" in listing.stdout
