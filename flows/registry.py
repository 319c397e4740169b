"""Every indicator source ciw knows: each connector module under flows/sources/ declares one
`SOURCE = Source(...)`; this module collects them.

A source is a publisher's format, not a table: all of them parse to the parsed_observation shape
(schemas/parsed_observation.yaml) and load through the same staging query, suites and loader.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa

from flows.config import Settings


@dataclass(frozen=True)
class Source:
    source_id: str
    publisher: str  # who publishes the figures (recorded on every row)
    address: str  # the publisher's page or API for this data (default source_url of a row)
    licence: str  # the publisher's terms, as stated
    snapshot: str  # folder under data/snapshot/ holding the bundled files and their manifest.csv
    parse: Callable[[duckdb.DuckDBPyConnection, list[Path]], pa.Table]  # -> parsed_observation rows
    fetch_live: Callable[[Settings, Path], list[Path]]  # lands raw files under the given folder
    target_table: str = "fact_observation"
    # a parser that leaves its rows in DuckDB for the staging query (flows/staging.py); None -> parse
    parse_rows: Callable[[duckdb.DuckDBPyConnection, list[Path]], Any] | None = None

    def snapshot_dir(self, s: Settings) -> Path:
        return s.snapshot_dir / self.snapshot

    def snapshot_files(self, s: Settings) -> list[Path]:
        from flows.sources.observations import manifest_files

        return manifest_files(self.snapshot_dir(s))

    def snapshot_retrieved_at(self, s: Settings) -> dict[str, datetime]:
        """When each bundled file's figures were captured, as its manifest records."""
        from flows.sources.observations import manifest_retrieved_at

        return manifest_retrieved_at(self.snapshot_dir(s))


@cache
def sources() -> dict[str, Source]:
    """All connectors, found as modules of flows.sources that declare SOURCE."""
    import flows.sources as package

    found: dict[str, Source] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"flows.sources.{info.name}")
        src = getattr(module, "SOURCE", None)
        if isinstance(src, Source):
            if src.source_id in found:
                raise ValueError(f"two connectors declare source {src.source_id!r}")
            found[src.source_id] = src
    return found


def source(name: str) -> Source:
    try:
        return sources()[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(sorted(sources()))}") from None
