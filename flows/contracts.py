"""Table contracts from schemas/*.yaml: the one description of each table's shape.

DDL, the Arrow schema a batch is cast to, and the COMMENT ON statements BI tools show are all
derived from here, so a column is described once.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import yaml

from flows.config import settings

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR[]": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class Contract:
    name: str
    kind: str
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    # False: the key is kept by the loader and checked before publish, not by a DuckDB index. An ART
    # index on fact_observation's five-column key made a 10M-row build 3.5x slower, took 2.3 GB of
    # memory and made the file 12x larger (bench/scale.py).
    key_index: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        # Nullability is enforced by DuckDB on insert (after quarantine), not on the staged batch.
        return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in self.columns])

    def create_sql(self, table: str | None = None) -> str:
        cols = ",\n  ".join(
            f'"{c.name}" {c.type}{"" if c.nullable else " NOT NULL"}' for c in self.columns
        )
        pk = ", ".join(f'"{k}"' for k in self.primary_key)
        key = f",\n  PRIMARY KEY ({pk})" if self.key_index else ""
        return f'CREATE TABLE "{table or self.name}" (\n  {cols}{key}\n)'

    def comment_sql(self) -> list[str]:
        kind = "VIEW" if self.kind == "view" else "TABLE"
        out = [f"COMMENT ON {kind} \"{self.name}\" IS {_quote(self.description)}"]
        out += [f'COMMENT ON COLUMN "{self.name}"."{c.name}" IS {_quote(c.description)}' for c in self.columns]
        return out


def _quote(text: str) -> str:
    return "'" + " ".join(text.split()).replace("'", "''") + "'"


def _parse(path: Path) -> Contract:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Contract(
        name=raw["name"],
        kind=raw.get("kind", "table"),
        description=raw["description"],
        primary_key=tuple(raw.get("primary_key", ())),
        partition_by=tuple(raw.get("partition_by", ())),
        key_index=bool(raw.get("key_index", True)),
        columns=tuple(Column(c["name"], c["type"], bool(c.get("nullable", True)), c["description"]) for c in raw["columns"]),
    )


@cache
def _load_all(schemas_dir: Path) -> dict[str, Contract]:
    return {c.name: c for c in map(_parse, sorted(schemas_dir.glob("*.yaml")))}


def contracts() -> dict[str, Contract]:
    return _load_all(settings().schemas_dir)


def contract(name: str) -> Contract:
    return contracts()[name]


def conform(table: pa.Table, name: str) -> pa.Table:
    """Select and cast a batch to its contract; a missing column is a structural error."""
    schema = contract(name).arrow_schema()
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ValueError(f"{name}: batch lacks contract columns {missing}")
    return pa.Table.from_arrays([table[f.name].cast(f.type) for f in schema], schema=schema)
