"""The built docs site, opened in a real browser with the network off (slow tier).

The site is built with ``mkdocs build --strict`` into a temporary folder, served on
127.0.0.1 (a file:// page cannot start the search worker), and every page is loaded
by headless chromium from the system package manager with every other host
unresolvable (``--host-resolver-rules``) and every other address sent to a dead
proxy. Chromium's own net log lists each request a page made; its console
messages go to stderr. On the DOM after load (``--dump-dom``) the checks are:

- no request leaves 127.0.0.1 (no CDN: math is MathML rendered at build time);
- no console message (the pages log nothing when all is well);
- no raw TeX (``\\(``, ``\\[``, ``$``) in the text outside code, and MathML where a
  page has math;
- no ``>>>`` example run together into prose (Markdown turns an unfenced ``>>>``
  run into nested block quotes);
- no builtin type's docstring (``tuple``'s for a constant);
- one ``<h1>`` on each API page: the module name;
- every page of the site is linked from the navigation.

Install the browser with ``apt-get install chromium`` (Debian/Ubuntu; ``.ci/run``
does it in CI). Without it the test fails when ``CI`` is set, and skips with that
instruction elsewhere. ``DOCS_SCREENSHOTS=DIR`` also writes PNG screenshots of the
recipes and mup API pages into DIR (``docs/assets/`` holds the committed ones).
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "apt-get update && apt-get install -y chromium"
BUILTIN_DOCS = tuple(
    t.__doc__.strip().split("\n")[0] for t in (tuple, list, dict, str, int, float, frozenset)
)
TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$")

pytestmark = pytest.mark.slow


def _browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    message = f"no chromium on PATH (tried {', '.join(BROWSERS)}); install it with `{INSTALL}`"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser check of the docs site: {message}")
    pytest.skip(message)


class _Page(html.parser.HTMLParser):
    """What the checks need from a DOM: prose text (outside code, math, scripts),
    headings, nav links, nested block quotes, MathML elements."""

    SKIP = {"code", "pre", "script", "style", "math", "textarea"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.h1: list[str] = []
        self.nav_links: list[str] = []
        self.nested_quotes = 0
        self.math = 0
        self.code_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "blockquote" and "blockquote" in self.stack:
            self.nested_quotes += 1
        if tag == "h1":
            self.h1.append("")
        if tag == "math":
            self.math += 1
        if tag == "a" and "md-nav__link" in (attrs.get("class") or "") and attrs.get("href"):
            self.nav_links.append(attrs["href"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if "h1" in self.stack and "a" not in self.stack:  # not the permalink's ¶
            self.h1[-1] += data.strip()
        if self.SKIP & set(self.stack):
            if {"code", "pre"} & set(self.stack):
                self.code_text.append(data)
        else:
            self.text.append(data)


def _parse(dom: str) -> _Page:
    page = _Page()
    page.feed(dom)
    return page


def problems(dom: str, console: list[str], requests: list[str], origin: str) -> list[str]:
    """Everything wrong with one loaded page, as readable lines (empty: fine)."""
    page = _parse(dom)
    text = " ".join(page.text)
    found = [f"request off the machine: {url}" for url in requests if not url.startswith(origin)]
    found += [f"console: {line}" for line in console]
    for match in TEX.finditer(text):
        found.append(
            f"raw TeX {match.group()!r} in: {text[match.start() - 60 : match.end() + 60]!r}"
        )
    if ">>>" in text or page.nested_quotes:
        found.append("a >>> example rendered as prose or nested block quotes, not as code")
    found += [f"builtin docstring shown: {doc!r}" for doc in BUILTIN_DOCS if doc in text]
    return found


def title_problems(dom: str, title: str) -> list[str]:
    """An API page has one ``<h1>``, the module name."""
    h1 = _parse(dom).h1
    return [] if h1 == [title] else [f"<h1> headings {h1}, expected one: {title!r}"]


class _Server:
    """The built site on an ephemeral 127.0.0.1 port, in a thread."""

    def __init__(self, directory: pathlib.Path):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _offline_flags(tmp: pathlib.Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
        # Network off: no host name resolves, and any other address goes to a dead proxy
        # (loopback is never proxied).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=127.0.0.1:9",
        "--virtual-time-budget=5000",  # let scripts run to completion before the dump
    ]


def load(browser: str, url: str, origin: str, tmp: pathlib.Path):
    """``(dom, console messages, URLs the page requested)`` of ``url`` after load."""
    netlog = tmp / "net.json"
    result = subprocess.run(
        [
            browser,
            *_offline_flags(tmp),
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={netlog}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = re.findall(r":CONSOLE[:(\d)]*\] (.*)", result.stderr)
    # The browser's own background requests (updates, accounts) have no page initiator.
    events = json.loads(netlog.read_text())["events"]
    requests = sorted(
        {
            e["params"]["url"]
            for e in events
            if e.get("params", {}).get("initiator") == origin and "url" in e["params"]
        }
    )
    return result.stdout, console, requests


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_the_checks_catch_each_fault(tmp_path):
    """A page with every fault the site check looks for fails each check."""
    browser = _browser()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.html").write_text(
        "<html><body><h1>a</h1><h1>b</h1><p>math \\(x^2\\) and $y$</p>"
        "<blockquote><blockquote><p>init = f(512)</p></blockquote></blockquote>"
        f"<p>{BUILTIN_DOCS[0]}</p>"
        '<img src="https://cdn.example.org/x.png">'
        '<script>console.error("boom")</script></body></html>'
    )
    with _Server(tmp_path / "bad") as server:
        dom, console, requests = load(browser, server.origin + "/", server.origin, tmp_path)
    found = "\n".join(problems(dom, console, requests, server.origin) + title_problems(dom, "a"))
    for expected in (
        "request off the machine: https://cdn.example.org/x.png",
        'console: "boom"',
        "raw TeX '\\\\('",
        "raw TeX '$'",
        "nested block quotes",
        "builtin docstring shown",
        "<h1> headings ['a', 'b'], expected one: 'a'",
    ):
        assert expected in found, (expected, found)


def test_every_page_renders_offline_and_is_in_the_nav(site, tmp_path):
    browser = _browser()
    pages = sorted(
        p.relative_to(site).parent.as_posix() + "/"
        for p in site.rglob("index.html")
        if p.parent != site
    )
    pages = ["", *pages]
    report = {}
    with _Server(site) as server:
        dom, *_ = load(browser, server.origin + "/", server.origin, tmp_path)
        nav = {link.lstrip("./") for link in _parse(dom).nav_links if not link.startswith("#")}
        assert set(pages) - {""} <= nav, f"pages not in the nav: {set(pages) - nav}"
        for page in pages:
            dom, console, requests = load(
                browser, f"{server.origin}/{page}", server.origin, tmp_path
            )
            found = problems(dom, console, requests, server.origin)
            parsed = _parse(dom)
            if page.startswith("api/"):
                module = "jax_inits" + ("." + page[4:-1] if page != "api/jax_inits/" else "")
                found += title_problems(dom, module)
            if (site / page / "index.html").read_text().count("arithmatex") and not parsed.math:
                found.append("math left for a script")
            if found:
                report[page or "/"] = found
    assert not report, json.dumps(report, indent=1)[:6000]


def test_module_examples_are_code_and_formulas_are_mathml(site, tmp_path):
    """Spot checks of the faults found by hand: the recipes module's example is one
    code block, its `[P, I - P]` formula is MathML, and mup's constants show no
    tuple docstring."""
    browser = _browser()
    with _Server(site) as server:
        recipes, *_ = load(browser, server.origin + "/api/recipes/", server.origin, tmp_path)
        mup, *_ = load(browser, server.origin + "/api/mup/", server.origin, tmp_path)
    page = _parse(recipes)
    code = "".join(page.code_text)
    assert 'init = jax_inits.get("recipes.small_init", 512)' in code
    assert page.math > 10
    assert "Built-in immutable sequence" not in " ".join(_parse(mup).text)


def test_screenshots_of_the_recipes_and_mup_pages(site, tmp_path):
    browser = _browser()
    out = pathlib.Path(os.environ.get("DOCS_SCREENSHOTS") or tmp_path)
    with _Server(site) as server:
        for page, height in (("recipes", 1500), ("mup", 3000)):  # mup: down to its math
            png = out / f"docs-api-{page}.png"
            result = subprocess.run(
                [
                    browser,
                    *_offline_flags(tmp_path),
                    "--hide-scrollbars",
                    f"--window-size=1280,{height}",
                    f"--screenshot={png}",
                    f"{server.origin}/api/{page}/",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr[-2000:]
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
