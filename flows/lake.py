"""The Parquet lake: versioned, a whole version per run, published by one atomic manifest swap.

Layout: lake/versions/<run_id>/<table>/[<partition>=<v>/]*.parquet, each version with its own
manifest.json, and lake/manifest.json naming the current version, its files (with row counts,
sizes and per-column min/max) and the history of published versions. A partition a run did not
change is the previous version's file, hard-linked (pruning a version leaves linked files intact).
A reader that follows the manifest never sees a file of a run that failed half-way: the manifest
only moves after every file is written, and folders of runs that never published are removed by
the next run.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from flows.contracts import Contract

MANIFEST = "manifest.json"
_PARTITION_VALUE = re.compile(r"[A-Za-z0-9_.-]+")


def manifest_path(lake_dir: Path) -> Path:
    return lake_dir / MANIFEST


def read_manifest(lake_dir: Path) -> dict[str, Any] | None:
    path = manifest_path(lake_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def table_files(lake_dir: Path, manifest: dict[str, Any] | None, table: str) -> list[str]:
    """Absolute paths of a table's current Parquet files ([] when the lake has none)."""
    if not manifest:
        return []
    return [str(lake_dir / f["path"]) for f in manifest["tables"].get(table, [])]


def write_version(con: duckdb.DuckDBPyConnection, lake_dir: Path, run_id: str, contracts: list[Contract],
                  reuse: dict[str, dict[str, dict]] | None = None) -> dict[str, list[dict]]:
    """COPY every table of the build database into a new version folder; return its file entries.
    A partition in `reuse` ({table: {"col=value": previous entry}}) is unchanged since the previous
    version: its file is hard-linked, not written again (10M World Bank rows: 5 s)."""
    reuse = reuse or {}
    version_dir = lake_dir / "versions" / run_id
    if version_dir.exists():
        shutil.rmtree(version_dir)
    version_dir.mkdir(parents=True)
    files: dict[str, list[dict]] = {}
    for c in contracts:
        target = version_dir / c.name
        # Small tables are written in key order. A table without a key index (fact_observation) is
        # written in whatever order DuckDB's threads finish: keeping the load order made the 10M-row
        # COPY buffer out-of-order row groups (2 GB and a third slower), and sorting it cost more still.
        order = " ORDER BY " + ", ".join(f'"{k}"' for k in c.primary_key) if c.key_index else ""
        con.sql(f"SET preserve_insertion_order = {'true' if c.key_index else 'false'}")
        stats, entries = [], []
        for where, dest in _destinations(con, c, target):
            dest.parent.mkdir(parents=True, exist_ok=True)
            kept = reuse.get(c.name, {}).get(dest.parent.relative_to(target).as_posix())
            if kept is not None:
                os.link(lake_dir / kept["path"], dest)
                entries.append({**kept, "path": str(dest.relative_to(lake_dir))})
                continue
            stats += con.sql(
                f"COPY (SELECT * FROM \"{c.name}\" WHERE {where}{order}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd, RETURN_STATS)"
            ).fetchall()
        files[c.name] = sorted([*entries, *(_entry(lake_dir, row) for row in stats)], key=lambda e: e["path"])
    con.sql("RESET preserve_insertion_order")
    return files


def _destinations(con: duckdb.DuckDBPyConnection, c: Contract, target: Path) -> list[tuple[str, Path]]:
    """(filter, file) per file of a table: one file per partition value (Hive layout, as DuckDB's
    PARTITION_BY writes it, but one plain COPY each: the partitioned writer took twice as long at
    10M rows), or one file for an unpartitioned or empty table."""
    if not c.partition_by:
        return [("true", target / "data_0.parquet")]
    cols = [f'"{p}"' for p in c.partition_by]
    values = con.sql(f'SELECT DISTINCT {", ".join(cols)} FROM "{c.name}" ORDER BY ALL').fetchall()
    out = []
    for vals in values:
        if any(v is None or not _PARTITION_VALUE.fullmatch(str(v)) for v in vals):
            raise ValueError(f"{c.name}: partition value {vals} cannot name a folder")
        where = " AND ".join(f"{col} = '{v}'" for col, v in zip(cols, vals))
        folder = target.joinpath(*(f"{p}={v}" for p, v in zip(c.partition_by, vals)))
        out.append((where, folder / "data_0.parquet"))
    return out or [("true", target / "data_0.parquet")]  # an empty table keeps one readable, empty file


def _entry(lake_dir: Path, row: tuple) -> dict[str, Any]:
    """File-level statistics for the manifest, so readers can prune files without opening them."""
    filename, count, size, _footer, column_stats, _partition, _extra = row
    cols = {k.strip('"'): v for k, v in (column_stats or {}).items()}
    return {
        "path": str(Path(filename).relative_to(lake_dir)),
        "rows": int(count),
        "bytes": int(size),
        "min": {k: v.get("min") for k, v in cols.items() if v.get("min") is not None},
        "max": {k: v.get("max") for k, v in cols.items() if v.get("max") is not None},
    }


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def publish_version(lake_dir: Path, run_id: str, files: dict[str, list[dict]], keep: int, inputs: str | None = None) -> None:
    """Point the manifest at the new version (atomic rename), then prune old versions. `inputs` is
    the fingerprint of the reference data and code the version was built from."""
    previous = read_manifest(lake_dir) or {}
    history = [v for v in previous.get("history", []) if v != run_id] + [run_id]
    manifest = {
        "version": run_id,
        "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": inputs,
        "tables": files,
        "history": history[-keep:],
    }
    _write_json_atomically(lake_dir / "versions" / run_id / MANIFEST, manifest)
    _write_json_atomically(manifest_path(lake_dir), manifest)
    prune_versions(lake_dir)


def append_to_current(con: duckdb.DuckDBPyConnection, lake_dir: Path, table: str, name: str, relation: str) -> None:
    """Add one Parquet file of `relation`'s rows to `table` in the current version, without a new
    version: how a night that changed nothing still records its run (run_log). The file is
    written first and the manifests (current and the version's own) are swapped atomically after,
    so a reader sees the table with or without the file, never half of it."""
    manifest = read_manifest(lake_dir)
    if manifest is None:
        raise FileNotFoundError(f"no published lake version under {lake_dir}")
    dest = lake_dir / "versions" / manifest["version"] / table / f"{name}.parquet"
    dest.parent.mkdir(parents=True, exist_ok=True)
    stats = con.sql(f"COPY ({relation}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd, RETURN_STATS)").fetchall()
    manifest["tables"].setdefault(table, []).extend(_entry(lake_dir, row) for row in stats)
    _write_json_atomically(lake_dir / "versions" / manifest["version"] / MANIFEST, manifest)
    _write_json_atomically(manifest_path(lake_dir), manifest)


def restore_version(lake_dir: Path, run_id: str) -> None:
    """Make an earlier published version current again (rollback)."""
    saved = lake_dir / "versions" / run_id / MANIFEST
    if not saved.exists():
        raise FileNotFoundError(f"lake version {run_id} is no longer kept")
    manifest = json.loads(saved.read_text(encoding="utf-8"))
    current = read_manifest(lake_dir) or {}
    manifest["history"] = [v for v in current.get("history", []) if v <= run_id]
    manifest["restored_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _write_json_atomically(manifest_path(lake_dir), manifest)
    prune_versions(lake_dir)


def prune_versions(lake_dir: Path) -> None:
    """Keep only the versions in the manifest's history; folders of interrupted runs go too."""
    versions = lake_dir / "versions"
    manifest = read_manifest(lake_dir)
    if not versions.exists() or manifest is None:
        return
    keep = set(manifest.get("history", [])) | {manifest["version"]}
    for folder in versions.iterdir():
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
