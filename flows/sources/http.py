"""The shared HTTP layer every connector fetches through.

Publishers' APIs fail in ordinary ways (503s, rate limits, stalled reads); retrying those with a
growing pause, and failing at once on a request that can never succeed (404, 400), is the same for
every source, so it lives here once. Every failure is a `SourceError` that names the source, the
URL or file, and the rule that was broken, so a failed run says what to look at.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

USER_AGENT = "ciw/0.1"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 1.0
# A Retry-After longer than this is not waited out: the run fails and says when to come back.
DEFAULT_MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 60.0


class SourceError(Exception):
    """A source gave something the pipeline cannot use; names where and which rule it broke."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        rule: str,
        url: str | None = None,
        file: str | None = None,
        row: int | None = None,
    ) -> None:
        self.message, self.source, self.rule = message, source, rule
        self.url, self.file, self.row = url, file, row
        where = [f"{k}={v}" for k, v in (("url", url), ("file", file), ("row", row)) if v is not None]
        super().__init__(f"[{source}] {rule}: {message}" + (f" ({', '.join(where)})" if where else ""))


def is_retryable_status(status: int) -> bool:
    """Server-side trouble and rate limits may pass; other 4xx mean the request itself is wrong."""
    return status >= 500 or status in (408, 429)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def make_client(timeout: float | httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """A client with the polite User-Agent; share one across the pages of a fetch."""
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        follow_redirects=True,
    )


def fetch(
    url: str,
    *,
    source: str,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """GET `url` and return the body of a 2xx answer.

    Retries up to `retries` times (so at most retries + 1 requests) on 5xx, 408, 429, timeouts and
    connection errors, pausing backoff * 2**attempt seconds, or the server's Retry-After when it is
    at most `max_retry_after` (a longer one fails at once). Any other 4xx fails at once.
    """
    own = client is None
    http = make_client(timeout) if own else client
    try:
        attempt = 0
        while True:
            try:
                response = http.get(url, timeout=timeout)
            except httpx.TimeoutException as exc:
                rule, detail, wait = "timeout", f"no answer in time ({type(exc).__name__})", None
            except httpx.TransportError as exc:
                rule, detail, wait = "transport", f"connection failed ({type(exc).__name__}: {exc})", None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response.content
                detail = f"HTTP {status} {response.reason_phrase}".rstrip()
                if not is_retryable_status(status):
                    raise SourceError(f"{detail}; not retried (the request itself was refused)",
                                      source=source, rule="http_status", url=url)
                rule = "rate_limited" if status == 429 else "http_status"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > max_retry_after:
                    raise SourceError(f"{detail}; server asks to retry after {wait:.0f} s, "
                                      f"more than the {max_retry_after:.0f} s this run waits",
                                      source=source, rule=rule, url=url)
            if attempt >= retries:
                raise SourceError(f"{detail}; gave up after {attempt + 1} attempt(s)",
                                  source=source, rule=rule, url=url)
            sleep(wait if wait is not None else min(MAX_BACKOFF, backoff * 2**attempt))
            attempt += 1
    finally:
        if own:
            http.close()


def land(dest: Path, name: str, body: bytes) -> Path:
    """Write a fetched body under `dest/name` atomically (a hidden partial file, then a rename), so a
    crash mid-write never leaves a truncated file that the next run would parse."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    partial = dest / f".{name}.partial"
    partial.write_bytes(body)
    partial.replace(target)
    return target


def file_name_of(url: str, default: str) -> str:
    """A safe local file name from the last segment of a URL's path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(httpx.URL(url).path).name) or default
