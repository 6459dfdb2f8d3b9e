"""Griffe extension (loaded by mkdocstrings, see mkdocs.yml): two docstring fixes.

- A run of ``>>>`` lines in a docstring's free text (a module docstring's example,
  not under a Google ``Examples:`` header) would be read by Markdown as three nested
  block quotes with the code run together into one paragraph. It is fenced as a
  ``pycon`` code block, the way the ``Examples:`` sections already render.
- Runtime inspection gives a constant without a docstring of its own the docstring
  of its type (``tuple``'s "Built-in immutable sequence..." for ``mup.ROLES``). That
  docstring is dropped, so the constant is left out of the page
  (``show_if_no_docstring`` is off) instead of showing Python's text.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import griffe

_PROMPT = re.compile(r"^>>> |^>>>$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def fence_examples(text: str) -> str:
    """Wraps each unindented run of ``>>>`` lines (with the output lines after each
    prompt, up to a blank line) in a fenced ``pycon`` block; indented runs (inside a
    Google section) and text already fenced are left alone."""
    out: list[str] = []
    in_fence = in_example = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and not in_example and _PROMPT.match(line):
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


def _is_inherited_type_doc(value: Any, doc: str) -> bool:
    if inspect.ismodule(value) or inspect.isclass(value) or callable(value):
        return False
    type_doc = type(value).__doc__  # a descriptor, not a string, on some types
    return isinstance(type_doc, str) and inspect.cleandoc(type_doc) == inspect.cleandoc(doc)


class DocstringFixes(griffe.Extension):
    """Fences free-standing doctest runs and drops docstrings inherited from a type."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        if isinstance(obj, griffe.Attribute) and _is_inherited_type_doc(
            getattr(node, "obj", None), obj.docstring.value
        ):
            obj.docstring = None
            return
        obj.docstring.value = fence_examples(obj.docstring.value)
