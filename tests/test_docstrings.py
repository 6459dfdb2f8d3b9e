"""Docstrings are written in the one style the docs site renders: Google
sections, Markdown (code in backticks, links as [text](url)) and math as
$...$ / $$...$$ for pymdownx.arithmatex; no reST roles or directives, which
mkdocstrings would show as text."""

import importlib
import pathlib
import re

import pytest

import jax_inits

PACKAGE = pathlib.Path(jax_inits.__file__).parent
MODULES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
    for p in PACKAGE.rglob("*.py")
    if p.name not in ("__main__.py", "bench.py")
)
REST = re.compile(
    r":(?:math|func|class|meth|mod|attr|data|obj):`"  # roles
    r"|`[^`]*<https?://[^>]*>`_"  # links
    r"|^\s*\.\. \w+::"  # directives (.. math::, .. note::)
    r"|^\s*={3,}\s+={3,}",  # simple tables
    re.M,
)


def _docstrings(module):
    yield module.__name__, module.__doc__
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        yield f"{module.__name__}.{name}", getattr(obj, "__doc__", None)
        for attr, member in vars(obj).items() if isinstance(obj, type) else ():
            doc = getattr(member, "__doc__", None)
            if callable(member) or isinstance(member, property):
                yield f"{module.__name__}.{name}.{attr}", doc


@pytest.mark.parametrize("name", MODULES)
def test_docstrings_have_no_rest_markup(name):
    module = importlib.import_module(name)
    for where, doc in _docstrings(module):
        found = REST.search(doc or "")
        assert found is None, f"{where}: {found.group(0)!r}"


def test_the_check_sees_rest_markup():
    for text in (
        "with :math:`x` in it",
        "see :func:`jax_inits.normal`",
        "`Paper <https://arxiv.org/abs/1>`_",
        "\n    .. math::\n",
        "\n    ====  ====\n",
    ):
        assert REST.search(text), text
    assert REST.search("math as $x$, [Paper](https://arxiv.org/abs/1), `code`") is None
