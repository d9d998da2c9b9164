"""The rendered book in a real browser: headless Chromium opens every page at a laptop's and a phone's width.

Each page must load without a console error or an uncaught exception, every image must load (``naturalWidth > 0``),
every link inside the book must reach a file of the book and, when it has one, an anchor on that page. On the phone
(390 px) the chapter list folds behind the "Contents" button, so the text starts in the first screen; in print the
sidebar is hidden; and typing a word from each chapter's title into the search box shows a link to that chapter.

The book is the fallback renderer's output of the session's executed book (``executed_book`` in conftest.py), opened
from disk (``file://``), as a reader opening ``reports/_book/index.html`` would. Chromium is driven over the Chrome
DevTools Protocol with tornado's websocket client (already pinned, through Jupyter), so no browser-automation
package is needed. Chromium is Debian's ``chromium`` package (``.ci/run`` installs it where apt is available); where
it is absent the tests skip, naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

CHROMIUM = os.environ.get("BEYOND_AVERAGES_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--remote-debugging-port=0", "--remote-allow-origins=*"]
WIDTHS = {"laptop": (1280, 800), "phone": (390, 844)}
TIMEOUT = 30.0

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)),
    reason=f"headless Chromium not found at {CHROMIUM} (Debian package 'chromium': apt-get install -y chromium)")


class Chromium:
    """A headless Chromium and one tab, driven synchronously over the DevTools protocol (one websocket)."""

    def __init__(self, profile: Path):
        # Its own process group, so that closing it ends every process it started (renderers, GPU, crash handler).
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.loop = asyncio.new_event_loop()
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.ws = None
        try:
            self._connect(profile)
        except BaseException:
            self.close()
            raise

    def _connect(self, profile: Path) -> None:
        from tornado.websocket import websocket_connect

        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + TIMEOUT
        while not (port_file.is_file() and len(port_file.read_text().split()) == 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{CHROMIUM} did not start (exit code {self.proc.returncode})")
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        url = f"ws://127.0.0.1:{port}{path}"
        self.ws = self._run(lambda: websocket_connect(url, max_message_size=256 * 2**20))
        target = self.call("Target.createTarget", url="about:blank", session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _run(self, start):
        """Run ``start()`` (which returns an awaitable) on this browser's own event loop, with a timeout."""
        async def run():
            return await asyncio.wait_for(start(), TIMEOUT)
        return self.loop.run_until_complete(run())

    def _receive(self) -> dict:
        message = self._run(self.ws.read_message)
        if message is None:
            raise RuntimeError("Chromium closed the DevTools connection")
        return json.loads(message)

    def call(self, method: str, session: bool = True, **params) -> dict:
        ident = next(self.ids)
        message = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._run(lambda: self.ws.write_message(json.dumps(message)))
        while True:
            reply = self._receive()
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())
        raise TimeoutError(f"no {method} within {TIMEOUT} s")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, width: int, height: int) -> list[str]:
        """Load ``url`` at this window size; return its console errors and uncaught exceptions."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")
        self.evaluate("Promise.all([...document.images].map(i => i.complete ? 0 :"
                      " new Promise(r => { i.onload = i.onerror = r; })))")
        return console_errors(self.events)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
        self.loop.close()


def console_errors(events: list[dict]) -> list[str]:
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            out.append(f"uncaught: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            out.append(f"{params['entry']['source']}: {params['entry']['text']} {params['entry'].get('url', '')}")
    return out


@pytest.fixture(scope="module")
def site(executed_book) -> Path:
    return executed_book / "reports" / "_book"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def book_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def anchors(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        cache[page] = set(re.findall(r'\s(?:id|name)="([^"]+)"', page.read_text(encoding="utf-8")))
    return cache[page]


def broken_links(links: list[str], site: Path, cache: dict[Path, set[str]]) -> list[str]:
    """Links that leave the book's folder, name a file it lacks, or an anchor the target page lacks."""
    out = []
    for href in links:
        url = urlsplit(href)
        if url.scheme != "file":
            continue  # external links (https, doi, mailto) are not followed: the machine is offline
        target = Path(unquote(url.path))
        if not target.resolve().is_relative_to(site.resolve()):
            out.append(f"{href}: outside the book")
        elif not target.is_file():
            out.append(f"{href}: no such file")
        elif url.fragment and unquote(url.fragment) not in anchors(target, cache):
            out.append(f"{href}: no such anchor")
    return out


PAGE_FACTS = """(() => ({
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
}))()"""


@pytest.mark.parametrize("device", list(WIDTHS))
def test_every_page_loads_cleanly_with_its_images_and_links(browser, site, device):
    width, height = WIDTHS[device]
    pages, cache, problems = book_pages(site), {}, []
    for page in pages:
        rel = page.relative_to(site).as_posix()
        errors = browser.open(page.as_uri(), width, height)
        facts = browser.evaluate(PAGE_FACTS)
        problems += [f"{rel}: {e}" for e in errors]
        problems += [f"{rel}: image {i['src']} did not load" for i in facts["images"] if not i["width"] > 0]
        problems += [f"{rel}: {b}" for b in broken_links(facts["links"], site, cache)]
    assert len(pages) >= 8 and not problems, "\n".join(problems)


def test_images_and_links_are_checked_for_real(browser, site, tmp_path):
    """The checks above can fail: a missing image, a dead anchor and a console error are each reported."""
    shutil.copy(site / "book.css", tmp_path / "book.css")
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="book.css"></head><body>'
                   '<img src="missing.png" alt="x"><a href="bad.html#nowhere">x</a><a href="gone.html">y</a>'
                   '<script>console.error("planted")</script></body></html>', encoding="utf-8")
    errors = browser.open(bad.as_uri(), *WIDTHS["laptop"])
    facts = browser.evaluate(PAGE_FACTS)
    assert any("planted" in e for e in errors) and any("missing.png" in e for e in errors)
    assert [i["width"] for i in facts["images"]] == [0]
    assert [b.split(": ")[-1] for b in broken_links(facts["links"], tmp_path, {})] == ["no such anchor", "no such file"]


def test_phone_menu_folds_the_chapter_list_so_the_text_starts_on_the_first_screen(browser, site):
    width, height = WIDTHS["phone"]
    for page in book_pages(site):
        rel = page.relative_to(site).as_posix()
        assert browser.open(page.as_uri(), width, height) == [], rel
        state = browser.evaluate("""(() => {
          const menu = document.querySelector('.chapters-menu'), button = document.querySelector('.menu-toggle');
          const folded = getComputedStyle(menu).display === 'none';
          const top = document.querySelector('main').getBoundingClientRect().top;
          button.click();
          return {folded, top, buttonShown: button.offsetParent !== null, screen: innerHeight,
                  openAfterClick: getComputedStyle(menu).display !== 'none',
                  expanded: button.getAttribute('aria-expanded')};
        })()""")
        assert state["folded"] and state["buttonShown"], f"{rel}: chapter list not folded behind the menu button"
        assert state["top"] < state["screen"] / 3, f"{rel}: the text starts {state['top']:.0f} px down a " \
                                                   f"{state['screen']} px screen"
        assert state["openAfterClick"] and state["expanded"] == "true", f"{rel}: the menu button does not open it"
    # At a laptop's width the list is always shown and the button hidden.
    browser.open((site / "index.html").as_uri(), *WIDTHS["laptop"])
    assert browser.evaluate("getComputedStyle(document.querySelector('.chapters-menu')).display !== 'none' && "
                            "document.querySelector('.menu-toggle').offsetParent === null")


def test_a_figure_opens_enlarged_on_a_phone(browser, site):
    """Issue 15 item 5: a figure drawn at the page's width is shown at its drawn width (770 px) when tapped on a
    390 px screen, so its 9-pt text is legible; a tap on the overlay closes it."""
    assert browser.open((site / "reports/executed/its.html").as_uri(), *WIDTHS["phone"]) == []
    state = browser.evaluate("""(() => {
      const img = document.querySelector('main img.zoomable');
      const before = img.getBoundingClientRect().width;
      img.click();
      const box = document.querySelector('.lightbox');
      const open = getComputedStyle(box).display !== 'none';
      const big = box.querySelector('img').getBoundingClientRect().width;
      box.click();
      return {before, open, big, closed: getComputedStyle(box).display === 'none'};
    })()""")
    assert state["before"] < 390 and state["open"] and state["closed"]
    assert state["big"] >= 770


def test_print_hides_the_sidebar_search_and_contents_list(browser, site):
    browser.open((site / "reports/executed/its.html").as_uri(), *WIDTHS["laptop"])
    shown = "['.sidebar', '.page-toc', '.page-navigation'].map(s => getComputedStyle(document.querySelector(s)).display)"
    assert "none" not in browser.evaluate(shown)
    browser.call("Emulation.setEmulatedMedia", media="print")
    try:
        assert browser.evaluate(shown) == ["none", "none", "none"]
        assert browser.evaluate("getComputedStyle(document.querySelector('h1')).breakBefore") == "page"
    finally:
        browser.call("Emulation.setEmulatedMedia", media="")


def title_words(site: Path) -> dict[str, str]:
    """For each chapter page: the word of its H1 (four letters or more) found in the fewest other pages' H1s."""
    h1 = {}
    for page in book_pages(site):
        match = re.search(r"<h1[^>]*>(.*?)</h1>", page.read_text(encoding="utf-8"), re.DOTALL)
        if match:
            text = re.sub(r"<span class=\"header-section-number\">.*?</span>|<[^>]+>", " ", match.group(1))
            h1[page.relative_to(site).as_posix()] = re.findall(r"[A-Za-z]{4,}", text)
    return {rel: min(words, key=lambda w: sum(w.lower() in " ".join(o).lower() for o in h1.values()))
            for rel, words in h1.items() if words}


@pytest.mark.parametrize("device", list(WIDTHS))
def test_search_box_finds_a_word_from_each_chapter(browser, site, device):
    words = title_words(site)
    assert len(words) >= 7, words
    assert browser.open((site / "index.html").as_uri(), *WIDTHS[device]) == []
    missing = []
    for rel, word in words.items():
        browser.evaluate("(() => { const i = document.getElementById('search-input'); i.value = '';"
                         " i.dispatchEvent(new Event('input')); i.focus(); })()")  # clears the last results
        browser.call("Input.insertText", text=word)
        found, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            found = browser.evaluate("[...document.querySelectorAll('#search-results a')].map(a => a.href)")
            if found:
                break
            time.sleep(0.05)
        if not any(urlsplit(h).path.endswith("/" + rel) for h in found):
            missing.append(f"{word!r} (from {rel}) gave {found[:5]}")
    assert not missing, "\n".join(missing)
    assert browser.evaluate("document.getElementById('search-results').offsetParent !== null")
    assert console_errors(browser.events) == []
