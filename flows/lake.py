"""The Parquet lake: versioned, written whole per run, published by one atomic manifest swap.

Layout: lake/versions/<run_id>/<table>/[<partition>=<v>/]*.parquet and lake/manifest.json naming
the current version and its files. A reader that follows the manifest never sees a file of a run
that failed half-way, because the manifest only moves after every file is written.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from flows.contracts import Contract


def manifest_path(lake_dir: Path) -> Path:
    return lake_dir / "manifest.json"


def read_manifest(lake_dir: Path) -> dict[str, Any] | None:
    path = manifest_path(lake_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def table_files(lake_dir: Path, manifest: dict[str, Any] | None, table: str) -> list[str]:
    """Absolute paths of a table's current Parquet files ([] when the lake has none)."""
    if not manifest:
        return []
    return [str(lake_dir / f) for f in manifest["tables"].get(table, [])]


def write_version(con: duckdb.DuckDBPyConnection, lake_dir: Path, run_id: str, contracts: list[Contract]) -> dict[str, list[str]]:
    """COPY every table of the build database into a new version folder; return its file list."""
    version_dir = lake_dir / "versions" / run_id
    if version_dir.exists():
        shutil.rmtree(version_dir)
    version_dir.mkdir(parents=True)
    files: dict[str, list[str]] = {}
    for c in contracts:
        target = version_dir / c.name
        order = ", ".join(f'"{k}"' for k in c.primary_key)
        query = f'SELECT * FROM "{c.name}" ORDER BY {order}'
        if c.partition_by:
            parts = ", ".join(f'"{p}"' for p in c.partition_by)
            con.sql(
                f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({parts}), "
                f"WRITE_PARTITION_COLUMNS true)"
            )
        else:
            target.mkdir()
            con.sql(f"COPY ({query}) TO '{target / 'data_0.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        files[c.name] = sorted(str(p.relative_to(lake_dir)) for p in target.rglob("*.parquet"))
    return files


def publish_version(lake_dir: Path, run_id: str, files: dict[str, list[str]], keep: int) -> None:
    """Point the manifest at the new version (atomic rename), then prune old versions."""
    manifest = {
        "version": run_id,
        "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tables": files,
    }
    tmp = manifest_path(lake_dir).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, manifest_path(lake_dir))
    prune_versions(lake_dir, keep=keep, current=run_id)


def prune_versions(lake_dir: Path, *, keep: int, current: str | None) -> None:
    """Drop all but the newest `keep` versions; folders of interrupted runs go too."""
    versions = lake_dir / "versions"
    if not versions.exists():
        return
    names = sorted(p.name for p in versions.iterdir() if p.is_dir())
    survivors = set(names[-keep:]) | ({current} if current else set())
    for name in names:
        if name not in survivors:
            shutil.rmtree(versions / name, ignore_errors=True)
