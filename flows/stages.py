"""Named stages of a run (parse, validate, quarantine, load, marts, publish), for measuring.

The pipeline marks its stages with `stage(name)`; nothing listens in a normal run. The benchmark
(bench/scale.py) adds a listener that records seconds and peak memory per stage, so it measures the
real pipeline rather than a copy of it.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

# listener(name, event, seconds): event is "start" or "stop"; seconds is the stage's duration at stop
Listener = Callable[[str, str, float], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    _listeners.append(listener)


@contextmanager
def stage(name: str) -> Iterator[None]:
    if not _listeners:
        yield
        return
    for fn in _listeners:
        fn(name, "start", 0.0)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t0
        for fn in _listeners:
            fn(name, "stop", elapsed)
