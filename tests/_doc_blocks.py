"""Runs one Python block of a Markdown page, as a reader who copies it would.

``python tests/_doc_blocks.py PAGE.md LINE`` executes the fenced
```` ```python ```` block whose code starts at ``LINE`` in a fresh interpreter, so
every block must show its own imports and set-up (8 CPU devices for a sharding
snippet, ``hk.transform`` around haiku code). A block made of ``>>>`` lines is a
doctest: its shown output must match (whitespace normalized, ``...`` allowed).
``tests/test_docs.py`` runs every block of README.md and docs/**/*.md this way; a
block is skipped only when the line just before its fence is
``<!-- docs-test: skip REASON -->``, visible to every reader of the page source.
"""

from __future__ import annotations

import doctest
import pathlib
import re
import sys

FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!-- docs-test: skip (?P<reason>\S.*?) -->[ \t]*\n\Z")


def blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, source, skip_reason)`` of every ```python block of ``text``."""
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2  # first line of the code
        skip = SKIP.search(text, 0, match.start())
        found.append((line, match.group(1), skip and skip.group("reason")))
    return found


def run(path: pathlib.Path, line: int) -> int:
    (source,) = [src for at, src, _ in blocks(path.read_text()) if at == line]
    where = f"{path}:{line}"
    namespace: dict = {"__name__": "__main__"}
    if source.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(source, namespace, where, str(path), line - 1)
        flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
        result = doctest.DocTestRunner(optionflags=flags).run(test)
        return 1 if result.failed else 0
    exec(compile(source, where, "exec"), namespace)
    return 0


if __name__ == "__main__":
    sys.exit(run(pathlib.Path(sys.argv[1]), int(sys.argv[2])))
