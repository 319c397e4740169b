"""Seconds and peak memory per stage of one process, sampled the same way for every contender.

A sampler thread reads the process's resident set (/proc/self/statm) every 10 ms. Stages nest (the
loader validates the catalog inside "load"): time and memory go to the innermost open stage, so the
stages of a run add up to its total and none is counted twice.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


class Recorder:
    def __init__(self, interval_s: float = 0.01):
        self.stages: dict[str, dict[str, float]] = {}
        self._stack: list[tuple[str, float]] = []  # (name, time the stage last became innermost)
        self._lock = threading.Lock()
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval_s,), daemon=True)
        self._thread.start()

    def _entry(self, name: str) -> dict[str, float]:
        return self.stages.setdefault(name, {"seconds": 0.0, "peak_rss": 0})

    def _sample(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.note_rss()

    def note_rss(self) -> None:
        rss = rss_bytes()
        with self._lock:
            self.peak = max(self.peak, rss)
            if self._stack:
                e = self._entry(self._stack[-1][0])
                e["peak_rss"] = max(e["peak_rss"], rss)

    def listener(self, name: str, event: str, _elapsed: float) -> None:
        """flows.stages listener: exclusive time per stage."""
        self.note_rss()
        now = time.perf_counter()
        with self._lock:
            if self._stack:  # the stage that was innermost until now stops or pauses
                top, since = self._stack[-1]
                self._entry(top)["seconds"] += now - since
            if event == "start":
                self._stack.append((name, now))
            else:
                while self._stack and self._stack[-1][0] != name:
                    self._stack.pop()
                if self._stack:
                    self._stack.pop()
                if self._stack:
                    self._stack[-1] = (self._stack[-1][0], now)
            self._entry(name)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.listener(name, "start", 0.0)
        try:
            yield
        finally:
            self.listener(name, "stop", 0.0)

    def close(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.note_rss()
        return {"stages": self.stages, "peak_rss": self.peak}
