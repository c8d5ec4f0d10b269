"""A small Chrome DevTools Protocol client for Debian's headless Chromium, over a pipe.

Why a pipe and not `chromium --screenshot`: the ground truth of a screenshot is the text the page
really shows, with where it shows it, and that can only be read from the page's own layout. With
`--remote-debugging-pipe` one browser session loads a page, reads its visible words (a script run in
the page), and takes the screenshot of exactly that layout, without a WebSocket library or a
network port: Chromium reads commands from fd 3 and writes replies to fd 4, one JSON object per
message, each followed by a NUL byte.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class ChromiumError(RuntimeError):
    pass


def find_chromium() -> str:
    """`$CHROMIUM`, else Debian's `chromium`, else `chromium-browser`."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    raise ChromiumError(
        "Chromium is not installed: run scripts/testocr/make (it installs Debian's chromium) "
        "or `apt-get install chromium`"
    )


class Chromium:
    """One headless browser with one page of a fixed viewport size."""

    def __init__(self, width: int, height: int, timeout: float = 60.0):
        self.width = width
        self.height = height
        self.timeout = timeout
        self.next_id = 0
        self.buffer = b""
        self.events: list[dict] = []
        self.profile = tempfile.mkdtemp(prefix="magpie-ocr-chromium-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--font-render-hinting=none",
            "--force-color-profile=srgb",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash puts the two pipe ends on fds 3 and 4 before it becomes Chromium.
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write}', find_chromium(), *args],
            pass_fds=(to_browser_read, from_browser_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )
        self.call("Page.enable", session=True)

    # ------------------------------------------------------------------ protocol
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise ChromiumError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise ChromiumError("Chromium closed the debugging pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            self.events.append(self._read_message(deadline))

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise ChromiumError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    # ------------------------------------------------------------------ pages
    def open(self, url: str, scroll_y: int = 0) -> None:
        """Loads `url`, waits for its fonts and layout, and scrolls to `scroll_y`."""
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired")
        self.evaluate("document.fonts.ready.then(() => true)")
        if scroll_y:
            self.evaluate(f"window.scrollTo(0, {int(scroll_y)})")
        # Two animation frames: scripts that lay out on load (mdBook's sidebar) have run.
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except ChromiumError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# The words a page shows inside the viewport, each with its box in CSS pixels (= screenshot pixels
# at device scale 1). A word is `full` when it lies wholly inside the viewport, is drawn in a
# visible colour, and the page's hit test at its centre lands on its own element (so text hidden
# behind another element or clipped away by an overflow container is not counted as shown). Words
# cut by the viewport edge, tiny or transparent ones are returned with full=false: the evaluation
# neither asks for them nor punishes an engine that reads them.
VISIBLE_WORDS_JS = r"""
(() => {
  const W = innerWidth, H = innerHeight;
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TITLE']);
  let node, nodeIndex = -1;
  while ((node = walker.nextNode())) {
    nodeIndex++;
    const parent = node.parentElement;
    if (!parent || skip.has(parent.tagName)) continue;
    const style = getComputedStyle(parent);
    if (style.display === 'none') continue;
    const colour = style.color.match(/[\d.]+/g) || [];
    const transparent = colour.length === 4 && parseFloat(colour[3]) < 0.3;
    const hidden = style.visibility !== 'visible' || parseFloat(style.opacity) < 0.3 || transparent;
    const fontSize = parseFloat(style.fontSize);
    const text = node.textContent;
    const re = /\S+/g;
    let m;
    while ((m = re.exec(text))) {
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()].filter(r => r.width > 0.5 && r.height > 0.5);
      if (!rects.length) continue;
      let l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
      for (const q of rects) {
        l = Math.min(l, q.left); t = Math.min(t, q.top);
        r = Math.max(r, q.right); b = Math.max(b, q.bottom);
      }
      if (r <= 0 || b <= 0 || l >= W || t >= H) continue;
      const inside = l >= 0 && t >= 0 && r <= W && b <= H;
      let shown = false;
      if (!hidden) {
        const cx = Math.min(W - 1, Math.max(0, (l + r) / 2));
        const cy = Math.min(H - 1, Math.max(0, (t + b) / 2));
        const hit = document.elementFromPoint(cx, cy);
        shown = !!hit && (hit === parent || parent.contains(hit));
      }
      out.push({
        text: m[0],
        box: [l, t, r, b],
        full: inside && shown && fontSize >= 8,
        font_size: fontSize,
        // Words of one text node that a space separates stay separate words; pieces of one
        // token split over elements (`std` `::` `vec`) are joined later by their gap.
        node: nodeIndex,
      });
    }
  }
  return out;
})()
"""
