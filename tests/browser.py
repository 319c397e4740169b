"""Headless Chromium for tests that open generated HTML from disk with the network unreachable.

Driven over the DevTools protocol on a pipe (no port, no extra package). Debian's `chromium`
package provides the browser (.ci/run installs it); `CIW_CHROMIUM` points at another binary. Tests
that need it skip when it is missing (`pytest.mark.skipif(not CHROMIUM, ...)`).
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = os.environ.get("CIW_CHROMIUM") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium"))


# Puts the two pipe ends on fds 3 and 4, where --remote-debugging-pipe expects them, then becomes
# Chromium (a shell cannot: dash refuses fd numbers above 9).
_TRAMPOLINE = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
    "os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])"
)


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (no port, no extra package).

    Every outside request goes to a proxy that refuses connections (127.0.0.1:9), so anything the
    page tried to fetch from the network fails and is recorded.
    """

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        import fcntl

        cmd_r, cmd_w = os.pipe()  # we write commands; Chromium reads them on fd 3
        evt_r, evt_w = os.pipe()  # Chromium writes replies and events on fd 4
        cmd_r2, evt_w2 = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, evt_w))
        os.close(cmd_r)
        os.close(evt_w)
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            "--proxy-server=127.0.0.1:9", f"--user-data-dir={profile}", "--remote-debugging-pipe",
            "--window-size=1366,900", "about:blank",
        ]
        self._log = log
        self._log_fh = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(cmd_r2), str(evt_w2), binary, *flags],
            pass_fds=(cmd_r2, evt_w2), stdin=subprocess.DEVNULL, stdout=self._log_fh, stderr=subprocess.STDOUT,
        )
        os.close(cmd_r2)
        os.close(evt_w2)
        self._w, self._r = cmd_w, evt_r
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict | None:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited: {self._log.read_text(errors='replace')[-2000:]}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply is None:
                raise TimeoutError(f"{method}: no reply in {timeout} s")
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, since: int, timeout: float = 30) -> None:
        """Until `method` arrives for `session` among the events from index `since` on."""
        deadline = time.monotonic() + timeout
        seen = lambda: any(e.get("method") == method and e.get("sessionId") == session for e in self.events[since:])  # noqa: E731
        while not seen():
            event = self._read(deadline)
            if event is None:
                raise TimeoutError(f"{method} not seen in {timeout} s")
            self.events.append(event)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (event := self._read(deadline)) is not None:
            self.events.append(event)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self._log_fh.close()



def open_offline(browser: Browser, url: str, facts_js: str, screenshot: Path | None = None, full_page: bool = False,
                 settle: float = 1.5) -> dict:
    """Load one page; return its console errors, failed and outside requests, and the page's facts.

    `facts_js` is a JavaScript expression that evaluates (or resolves) to a JSON string, run after
    the load event and `settle` seconds more. `screenshot` saves a PNG there: the viewport, or the
    whole page with `full_page`.
    """
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
    start = len(browser.events)
    nav = browser.send("Page.navigate", {"url": url}, session=session)
    assert not nav.get("errorText"), nav
    browser.wait_for("Page.loadEventFired", session, since=start)
    browser.drain(settle)  # scripts that run after load, fonts
    facts = browser.send("Runtime.evaluate", {"expression": facts_js, "awaitPromise": True, "returnByValue": True}, session=session)
    if "exceptionDetails" in facts:
        raise RuntimeError(f"facts_js failed: {facts['exceptionDetails']}")
    if screenshot is not None:
        params: dict = {"format": "png"}
        if full_page:
            size = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        shot = browser.send("Page.captureScreenshot", params, session=session, timeout=60)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    events = [e for e in browser.events[start:] if e.get("sessionId") == session]
    requests = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"}
    errors = [e["params"]["exceptionDetails"].get("exception", {}).get("description") or e["params"]["exceptionDetails"].get("text")
              for e in events if e.get("method") == "Runtime.exceptionThrown"]
    errors += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"])
               for e in events if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")]
    errors += [f'{e["params"]["entry"]["text"]} ({e["params"]["entry"].get("url", "")})'
               for e in events if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    failed = [(requests.get(e["params"]["requestId"], "?"), e["params"]["errorText"])
              for e in events if e.get("method") == "Network.loadingFailed"]
    browser.send("Target.closeTarget", {"targetId": target})
    return {
        "errors": errors, "failed": failed, "facts": json.loads(facts["result"]["value"]),
        "outside": sorted({u for u in requests.values() if not u.startswith(("file:", "data:", "about:"))}),
    }
