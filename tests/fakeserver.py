"""A real local HTTP server (127.0.0.1, port 0) serving recorded publisher answers.

Routes by path + query so each test states exactly which request gets which answer; counts
requests so retries are checked, not assumed. Shared by every connector's tests.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json;charset=utf-8"


class FakePublisher:
    """Answers routed by (path, query); a route's replies are used in turn, the last one repeats.
    A route registered with query=None matches the path with any query."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, frozenset | None], list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self.user_agents: list[str] = []
        self.lock = threading.Lock()
        self.origin = ""  # http://127.0.0.1:<port>

    def on(self, path: str, query: dict[str, str] | None, *replies: Reply) -> None:
        self.routes[(path, None if query is None else frozenset(query.items()))] = list(replies)

    def next_reply(self, raw_path: str, user_agent: str) -> Reply:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        with self.lock:
            self.hits[path] += 1
            self.user_agents.append(user_agent)
            replies = self.routes.get((path, frozenset(parse_qsl(parts.query)))) or self.routes.get((path, None))
            if not replies:
                return Reply(b"no route", status=404, content_type="text/plain")
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        reply = self.server.fake.next_reply(self.path, self.headers.get("User-Agent", ""))
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving() -> Iterator[FakePublisher]:
    fake = FakePublisher()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.block_on_close = False
    server.fake = fake
    fake.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
