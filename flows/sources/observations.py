"""The one shape every connector's parser returns (schemas/parsed_observation.yaml).

Each source parses its own format; from here on all sources share one staging query, one suite
and one loader, so a parser's only job is to map its layout onto these columns. Columns a format
does not have are left null and defaulted in sql/staging/ (observations.sql, batch.sql).
"""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from flows.contracts import contract


def parsed_schema() -> pa.Schema:
    return contract("parsed_observation").arrow_schema()


def to_parsed(table: pa.Table) -> pa.Table:
    """Cast a parser's output to the parsed contract, adding the columns it does not produce as nulls."""
    schema = parsed_schema()
    unknown = sorted(set(table.column_names) - set(schema.names))
    if unknown:
        raise ValueError(f"parser returned columns outside schemas/parsed_observation.yaml: {unknown}")
    cols = [_cast(table[f.name], f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(cols, names=schema.names)


def _cast(col: pa.ChunkedArray, type_: pa.DataType) -> pa.ChunkedArray:
    """Cast to the contract's type; a dictionary-encoded column of that type stays encoded (a parser
    encodes what repeats on every row, e.g. the file name, to keep a big batch small)."""
    if pa.types.is_dictionary(col.type) and col.type.value_type == type_:
        return col
    return col.cast(type_)


def logical_schema(schema: pa.Schema) -> pa.Schema:
    """A schema with dictionary-encoded columns shown as their value type (what SQL sees)."""
    return pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema])


def empty() -> pa.Table:
    return parsed_schema().empty_table()


# --- bundled snapshots ----------------------------------------------------------------------------
# Every source's snapshot folder holds its files in the publisher's own format plus manifest.csv:
# file, publisher, address, licence, retrieved_at (ISO), sha256, origin (where the figures were taken
# from), note. The manifest is the snapshot's provenance; files not listed in it are not loaded.
MANIFEST = "manifest.csv"


def read_manifest(snapshot_dir: Path) -> list[dict[str, str]]:
    with open(snapshot_dir / MANIFEST, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def manifest_files(snapshot_dir: Path) -> list[Path]:
    return [snapshot_dir / row["file"] for row in read_manifest(snapshot_dir)]


def manifest_retrieved_at(snapshot_dir: Path) -> dict[str, datetime]:
    return {row["file"]: datetime.fromisoformat(row["retrieved_at"]) for row in read_manifest(snapshot_dir)}
