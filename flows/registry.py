"""Every indicator source ciw knows, declared once: how to fetch it live, where its bundled snapshot
is, how to parse it, and which staging SQL shapes it into its table.

A new source is a module under flows/sources/ plus one entry here and one file in sql/staging/.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa

from flows.config import Settings
from flows.sources import worldbank


@dataclass(frozen=True)
class Source:
    source_id: str
    target_table: str
    publisher: str
    address: str
    snapshot_files: Callable[[Settings], list[Path]]
    snapshot_retrieved_at: Callable[[Settings], dict[str, datetime]]  # file name -> capture time
    parse: Callable[[duckdb.DuckDBPyConnection, list[Path]], pa.Table]
    fetch_live: Callable[[Settings, Path], list[Path]]


def _wb_snapshot_dir(s: Settings) -> Path:
    return s.snapshot_dir / "worldbank"


def _wb_snapshot_retrieved_at(s: Settings) -> dict[str, datetime]:
    """When each bundled file's figures were captured, as its manifest records."""
    with open(_wb_snapshot_dir(s) / "manifest.csv", newline="", encoding="utf-8") as fh:
        return {row["file"]: datetime.fromisoformat(row["retrieved_at"]) for row in csv.DictReader(fh)}


def _wb_fetch_live(s: Settings, dest: Path) -> list[Path]:
    """Fetch every World Bank series of the catalog for the catalog's countries."""
    from flows.catalog import read_catalog

    catalog = read_catalog(s)
    ids = [i for i, src in zip(catalog.indicators.column("indicator_id").to_pylist(), catalog.indicators.column("source_id").to_pylist()) if src == "worldbank"]
    countries = catalog.countries.column("country_iso3").to_pylist()
    files: list[Path] = []
    for indicator in ids:
        # WGI series live in API database 3; everything else in WDI (2, the default).
        files += worldbank.fetch_indicator(indicator, countries, dest, source="3" if indicator.startswith("GOV_WGI_") else None)
    return files


@cache
def sources() -> dict[str, Source]:
    return {
        worldbank.SOURCE_ID: Source(
            source_id=worldbank.SOURCE_ID,
            target_table="fact_observation",
            publisher="World Bank",
            address=worldbank.BASE_URL,
            snapshot_files=lambda s: worldbank.snapshot_files(_wb_snapshot_dir(s)),
            snapshot_retrieved_at=_wb_snapshot_retrieved_at,
            parse=worldbank.parse_inputs,
            fetch_live=_wb_fetch_live,
        ),
    }


def source(name: str) -> Source:
    try:
        return sources()[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(sorted(sources()))}") from None
