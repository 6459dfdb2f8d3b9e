"""The docs: every public module has an API page, and every Python block of
README.md and docs/**/*.md runs as written.

Each block runs alone in a fresh interpreter (``tests/_doc_blocks.py``), in an
empty working directory, as a reader who copies it would: it must show its own
imports and set-up. ``>>>`` blocks are doctests whose shown output must match.
New pages are picked up by the glob; a block is skipped only by the visible marker
``<!-- docs-test: skip REASON -->`` on the line before its fence.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import _doc_blocks  # noqa: E402

# Not API: the command-line entry point.
NOT_API = {"__init__", "__main__"}
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCKS = [
    (page, line, source, skip)
    for page in PAGES
    for line, source, skip in _doc_blocks.blocks(page.read_text())
]
# Blocks that need a framework extra skip where it is not installed (`make test-min`).
FRAMEWORKS = {"haiku": "haiku", "flax": "flax", "equinox": "equinox", "torch": "torch"}


def test_every_public_module_has_an_api_page_in_the_nav():
    modules = sorted(p.stem for p in (ROOT / "jax_inits").glob("*.py") if p.stem not in NOT_API)
    assert {"pytorch", "recipes", "tree", "flax", "haiku", "diagnostics"} <= set(modules)
    nav = (ROOT / "mkdocs.yml").read_text()
    for module in modules:
        page = ROOT / "docs" / "api" / f"{module}.md"
        directive, *options = page.read_text().strip().splitlines()
        assert directive == f"::: jax_inits.{module}", module
        assert all(line.startswith(" ") for line in options), module  # the directive's options
        assert f"api/{module}.md" in nav, module


def _run_block(page, line, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # the checkout's jax_inits
    env.pop("XLA_FLAGS", None)  # no devices that the page does not set up itself
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_doc_blocks.py"), str(page), str(line)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def _block_params():
    """README's blocks run in `make test`; the docs pages' blocks (a fresh interpreter
    each, tens of them) in `make test-slow`."""
    return [
        pytest.param(
            page,
            line,
            source,
            skip,
            id=f"{page.relative_to(ROOT)}:{line}",
            marks=() if page.name == "README.md" else pytest.mark.slow,
        )
        for page, line, source, skip in BLOCKS
    ]


@pytest.mark.parametrize("page,line,source,skip", _block_params())
def test_python_block_runs_as_written(page, line, source, skip, tmp_path):
    if skip:
        pytest.skip(f"marked in the page: {skip}")
    for name, module in FRAMEWORKS.items():
        if re.search(rf"^\s*(?:>>> )?(?:import|from) {name}\b", source, re.M):
            pytest.importorskip(module)
    result = _run_block(page, line, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_the_collector_sees_the_blocks_it_should():
    """The glob finds README and the docs pages, and the known blocks are in it."""
    where = {
        (page.relative_to(ROOT).as_posix(), source.split("\n")[0]) for page, _, source, _ in BLOCKS
    }
    assert len(BLOCKS) >= 10
    assert ("README.md", "import jax") in where
    assert any(page == "docs/guides/choosing.md" for page, _ in where)
    # Skipped today: two sketches around the user's own model (the orbax restore of the
    # model-scale guide, the porting guide's first block); each names where the runnable
    # one is. README's blocks all run.
    skipped = sorted(page.relative_to(ROOT).as_posix() for page, *_, skip in BLOCKS if skip)
    assert skipped == ["docs/guides/model-scale.md", "docs/guides/porting.md"]


def test_the_runner_fails_a_wrong_output_and_honours_only_the_marker(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n```python\n>>> 1 + 1\n3\n```\n\n"
        "<!-- docs-test: skip needs a TPU -->\n```python\nraise SystemExit(7)\n```\n\n"
        "```python\nraise SystemExit(7)\n```\n"
    )
    blocks = _doc_blocks.blocks(page.read_text())
    assert [(line, skip) for line, _, skip in blocks] == [
        (4, None),
        (10, "needs a TPU"),
        (14, None),
    ]
    assert _run_block(page, 4, tmp_path).returncode == 1  # shown output 3, got 2
    assert _run_block(page, 14, tmp_path).returncode == 7


def _docs_module(name):
    """``docs/<name>.py``; skipped where the `docs` extra is absent (`make test-min`)."""
    import importlib.util

    for needed in ("mkdocs", "latex2mathml", "griffe"):
        pytest.importorskip(needed)

    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_math_becomes_mathml_at_build_time():
    """The site loads no math script: arithmatex's TeX is MathML in the page."""
    hooks = _docs_module("hooks")
    page = (
        '<p>a <span class="arithmatex">\\(x &lt; \\sqrt{n}\\)</span> b</p>'
        '<div class="arithmatex">\\[\\frac{1}{2}\\]</div>'
    )
    out = hooks.to_mathml(page)
    assert "arithmatex" not in out and "\\(" not in out and "\\[" not in out
    assert out.count("<math") == 2 and 'display="block"' in out
    assert "<msqrt>" in out and "<mfrac>" in out and "<mo>&#x0003C;</mo>" in out
    assert "unpkg" not in (ROOT / "mkdocs.yml").read_text()


def test_free_standing_doctest_runs_are_fenced_and_section_examples_are_not():
    fence = _docs_module("griffe_docstrings").fence_examples
    text = "Intro.\n\n>>> a = 1\n>>> a\n1\n\nAfter.\n\nExamples:\n  >>> b\n  2\n"
    assert fence(text) == (
        "Intro.\n\n```pycon\n>>> a = 1\n>>> a\n1\n```\n\nAfter.\n\nExamples:\n  >>> b\n  2\n"
    )
    assert fence("```python\n>>> x\n```") == "```python\n>>> x\n```"
    assert fence(">>> x") == "```pycon\n>>> x\n```"


def test_readme_is_a_landing_page_whose_links_resolve():
    """README stays short (issue 22: about 10 KB); every relative link in it names a
    file of the checkout (anchors into docs pages are checked by the strict build of
    those pages' headings, here only the file), and it links every page its former
    sections moved to."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_500
    assert readme.startswith("# jax-inits\n\n```sh\nmake demo ")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert [link for link in local if not (ROOT / link).exists()] == []
    moved = {
        "docs/initializers.md",
        "docs/differences.md",
        "docs/benchmarks.md",
        "docs/guides/cli.md",
        "docs/guides/recipes.md",
        "docs/guides/mup.md",
        "docs/guides/porting.md",
        "docs/guides/model-scale.md",
        "CONTRIBUTING.md",
    }
    assert moved <= set(local)
