"""The docs site documents every public module (the strict build checks the rest)."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Not API: the command-line entry point.
NOT_API = {"__init__", "__main__"}


def test_every_public_module_has_an_api_page_in_the_nav():
    modules = sorted(p.stem for p in (ROOT / "jax_inits").glob("*.py") if p.stem not in NOT_API)
    assert {"pytorch", "recipes", "tree", "flax", "haiku", "diagnostics"} <= set(modules)
    nav = (ROOT / "mkdocs.yml").read_text()
    for module in modules:
        page = ROOT / "docs" / "api" / f"{module}.md"
        assert page.read_text().strip() == f"::: jax_inits.{module}", module
        assert f"api/{module}.md" in nav, module
