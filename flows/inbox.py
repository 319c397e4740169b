"""The inbox: files dropped in `warehouse/inbox/<source>/` are ingested one by one.

Prefect has no file sensor, so a small polling watcher (no extra dependency, works on network
mounts where inotify does not) emits `ciw.file.landed` once a file is completely written: its size
and modification time unchanged over consecutive scans, and not a hidden or partial name
(`.x`, `*.part`, `*.tmp`, ...). Writers that can should write under such a name and rename into
place, which is atomic. The `ingest-file` deployment's flow (`ingest_inbox_file`) then runs the same
validate-and-load path as `ciw ingest` and moves the file to `processed/` or `rejected/` (with a
`<name>.reason.txt`), so the inbox only ever holds work not yet done.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from prefect import flow, get_run_logger

from flows.config import Settings

log = logging.getLogger("ciw.inbox")

PROCESSED = "processed"
REJECTED = "rejected"
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", "~")


def inbox_dir(s: Settings) -> Path:
    return s.warehouse_dir / "inbox"


def source_dirs(s: Settings, source_ids: Iterable[str]) -> dict[str, Path]:
    """`inbox/<source>/` with its processed/ and rejected/ folders, created if missing."""
    dirs = {}
    for sid in source_ids:
        d = inbox_dir(s) / sid
        (d / PROCESSED).mkdir(parents=True, exist_ok=True)
        (d / REJECTED).mkdir(parents=True, exist_ok=True)
        dirs[sid] = d
    return dirs


def is_candidate(name: str) -> bool:
    """A name a finished file can have: not hidden, not a download or editor in progress."""
    return not name.startswith((".", "~")) and not name.lower().endswith(PARTIAL_SUFFIXES)


@dataclass
class _Seen:
    signature: tuple[int, int]  # (size, mtime_ns)
    stable_scans: int = 0
    emitted: bool = False


class InboxWatcher:
    """Scans `inbox/<source>/` every `interval` seconds; calls `on_ready(path, source)` once per
    completely written file. `on_ready` returns False to be asked again on the next scan (the
    event could not be handed over). A file rewritten in place after it was reported is reported
    again once stable; a file still in the inbox when the watcher starts is reported (catch-up
    after a restart: ingesting a file twice is a no-op, its batch id is its content hash)."""

    def __init__(self, dirs: dict[str, Path], on_ready: Callable[[Path, str], bool],
                 interval: float = 0.5, stable_scans: int = 2):
        self.dirs, self.on_ready, self.interval, self.stable_scans = dirs, on_ready, interval, stable_scans
        self._seen: dict[Path, _Seen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan_once(self) -> list[Path]:
        """One scan; returns the files reported by it."""
        present: set[Path] = set()
        reported = []
        for source, d in self.dirs.items():
            try:
                entries = list(os.scandir(d))
            except FileNotFoundError:
                d.mkdir(parents=True, exist_ok=True)
                continue
            for e in entries:
                if not is_candidate(e.name):
                    continue
                try:
                    if not e.is_file(follow_symlinks=False):
                        continue
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:  # moved away between listing and stat
                    continue
                path = Path(e.path)
                present.add(path)
                sig = (st.st_size, st.st_mtime_ns)
                seen = self._seen.get(path)
                if seen is None or seen.signature != sig:
                    self._seen[path] = _Seen(sig)
                    continue
                if seen.emitted:
                    continue
                seen.stable_scans += 1
                if seen.stable_scans >= self.stable_scans:
                    seen.emitted = self._report(path, source)
                    if seen.emitted:
                        reported.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return reported

    def _report(self, path: Path, source: str) -> bool:
        try:
            return bool(self.on_ready(path, source))
        except Exception:  # noqa: BLE001 - one bad callback must not stop the watcher
            log.exception("reporting %s failed; will retry", path)
            return False

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception:  # noqa: BLE001 - keep watching through transient filesystem errors
                log.exception("inbox scan failed")
            self._stop.wait(self.interval)

    def start(self) -> "InboxWatcher":
        self._thread = threading.Thread(target=self.run, name="ciw-inbox-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def emit_landed(path: Path, source: str) -> bool:
    """The watcher's callback: `ciw.file.landed`, resource = the file, payload = what to ingest."""
    from flows import events

    st = path.stat()
    payload = {"path": str(path.resolve()), "source": source, "name": path.name, "size": st.st_size,
               "modified": datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat()}
    sent = events.emit(events.FILE_LANDED, events.file_resource(payload["path"], source), payload)
    if sent:
        log.info("landed: %s (%s, %d bytes)", path.name, source, st.st_size)
    return sent


# --- after the ingest -----------------------------------------------------------------------------
def _free_name(folder: Path, name: str) -> Path:
    """`name` in `folder`, or `name` with a UTC stamp when a file of that name is already there."""
    dest = folder / name
    if not dest.exists():
        return dest
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    p = Path(name)
    return folder / f"{p.stem}.{stamp}{p.suffix}"


def settle(path: Path, outcome: str, reason: str | None = None) -> Path | None:
    """Move an ingested file to processed/ or rejected/ next to it; write the reason beside it.
    Returns where it went, or None when it was already gone (a duplicate event's second run)."""
    folder = path.parent / outcome
    folder.mkdir(exist_ok=True)
    dest = _free_name(folder, path.name)
    try:
        os.replace(path, dest)
    except FileNotFoundError:
        return None
    if reason:
        (folder / f"{dest.name}.reason.txt").write_text(reason.rstrip() + "\n", encoding="utf-8")
    return dest


def _rejection_reason(summary: dict, path: Path) -> str | None:
    rejected = [s for s in summary.get("sources", []) if s.get("status") == "rejected"]
    if not rejected:
        return None
    lines = [f"{path.name} was rejected by ciw run {summary.get('run_id')} at {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}:"]
    lines += [f"  {s.get('source_id')}: {s.get('message')}" for s in rejected]
    lines.append("Nothing from this file was loaded. Fix it and drop it into the inbox again.")
    return "\n".join(lines)


@flow(name="ciw-inbox-file", log_prints=True)
def ingest_inbox_file(path: str, source: str) -> dict:
    """The `ingest-file` deployment: one inbox file through the body of `ingest_file` (the path of
    `ciw ingest`; its tasks run in this flow run, so the ciw run id names this run), then out of
    the inbox to processed/ or rejected/ with the reason.

    A run that is cancelled or killed (serve shutting down) leaves the file where it is: the
    watcher reports it again after a restart."""
    from flows.pipeline import ingest_file

    logger = get_run_logger()
    p = Path(path)
    if not p.is_file():
        logger.warning("%s is no longer in the inbox (already handled by another run?); nothing to do", p)
        return {"path": path, "outcome": "missing"}
    try:
        summary = ingest_file.fn(path=str(p), source=source)
    except Exception as exc:
        settle(p, REJECTED, f"{p.name}: the ingest run failed ({type(exc).__name__}: {exc}).\n"
                            "Nothing from this file was loaded. Move it back into the inbox to retry.")
        raise
    if not isinstance(summary, dict) or "sources" not in summary:
        raise RuntimeError(f"ingest of {p.name} returned no run summary ({summary!r}); the file stays in the inbox")
    reason = _rejection_reason(summary, p)
    dest = settle(p, REJECTED if reason else PROCESSED, reason)
    logger.info("%s -> %s", p.name, dest if dest else "(already moved)")
    return {**summary, "path": path, "outcome": REJECTED if reason else PROCESSED, "moved_to": str(dest) if dest else None}
