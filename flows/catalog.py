"""The curated catalog (data/catalog/) as Arrow tables shaped by the table contracts.

The catalog is data, not code: countries; indicators with their unit, direction and plausible range
(one file per source under indicators/); and the commitment-indicator links with a rationale each
(one file per source under links/). This module only reads it. Every row keeps the file and line it
came from, so a bad catalog row is quarantined with its address like any other input.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from flows.config import Settings

COUNTRY_COLUMNS = {"country_iso3": "VARCHAR", "wb_id": "VARCHAR", "country_name": "VARCHAR", "group_name": "VARCHAR", "is_focus": "BOOLEAN"}
INDICATOR_COLUMNS = {
    "indicator_id": "VARCHAR", "name": "VARCHAR", "unit": "VARCHAR", "source_id": "VARCHAR",
    "publisher": "VARCHAR", "licence": "VARCHAR", "direction": "VARCHAR", "valid_min": "DOUBLE",
    "valid_max": "DOUBLE", "flat_band": "DOUBLE", "flat_band_kind": "VARCHAR", "theme": "VARCHAR",
    "notes": "VARCHAR",
}
THRESHOLD_COLUMNS = {"method": "VARCHAR", "status": "VARCHAR", "min_value": "DOUBLE", "rank": "INTEGER", "meaning": "VARCHAR"}
TARGET_COLUMNS = {"commitment_id": "VARCHAR", "indicator_id": "VARCHAR", "country_iso3": "VARCHAR", "target_value": "DOUBLE",
                  "target_year": "INTEGER", "source_url": "VARCHAR", "note": "VARCHAR"}
EVIDENCE_COLUMNS = {"commitment_id": "VARCHAR", "country_iso3": "VARCHAR", "status": "VARCHAR", "as_of": "DATE",
                    "source_url": "VARCHAR", "note": "VARCHAR", "recorded_at": "TIMESTAMP"}
LINK_COLUMNS = {"commitment_id": "VARCHAR", "key_phrase": "VARCHAR", "indicator_id": "VARCHAR", "relation": "VARCHAR",
                "base_year": "INTEGER", "rationale": "VARCHAR"}


@dataclass(frozen=True)
class Catalog:
    countries: pa.Table
    indicators: pa.Table  # + is_catalogued, source_file, source_row
    links: pa.Table  # commitment_id, key_phrase, indicator_id (null = not measurable), relation, base_year, rationale, source_file, source_row
    thresholds: pa.Table  # the progress method's thresholds (progress/thresholds.csv)
    targets: pa.Table  # numeric targets with their source (progress/targets.csv; may be empty)
    evidence: pa.Table  # the evidence register for qualitative commitments (data/evidence/register.csv)

    @property
    def country_codes(self) -> list[str]:
        return sorted(self.countries.column("country_iso3").to_pylist())

    @property
    def indicator_ids(self) -> list[str]:
        return sorted(self.indicators.column("indicator_id").to_pylist())


def catalog_files(s: Settings) -> list[Path]:
    """Every file the catalog is read from (what a change of catalog is detected by)."""
    d = s.catalog_dir
    return [d / "countries.csv", *sorted((d / "indicators").glob("*.csv")), *sorted((d / "links").glob("*.csv")),
            d / "progress" / "thresholds.csv", d / "progress" / "targets.csv"]


def evidence_path(s: Settings) -> Path:
    return s.data_dir / "evidence" / "register.csv"


def _read(con: duckdb.DuckDBPyConnection, s: Settings, paths: list[Path], columns: dict[str, str]) -> pa.Table:
    """Read same-shaped CSV files, each row tagged with its file (relative) and 1-based data line."""
    parts = [
        con.sql(
            "SELECT *, $file AS source_file, CAST(row_number() OVER () AS BIGINT) AS source_row "
            "FROM read_csv($path, header=true, columns=$columns, nullstr='', quote='\"')",
            params={"path": str(p), "columns": columns, "file": str(p.relative_to(s.data_dir.parent))},
        ).to_arrow_table()
        for p in paths
    ]
    return pa.concat_tables(parts)  # an empty file still gives its typed, empty table


def read_catalog(s: Settings) -> Catalog:
    con = duckdb.connect()
    d = s.catalog_dir
    countries = _read(con, s, [d / "countries.csv"], COUNTRY_COLUMNS)
    indicators = _read(con, s, sorted((d / "indicators").glob("*.csv")), INDICATOR_COLUMNS)
    indicators = indicators.append_column("is_catalogued", pa.repeat(pa.scalar(True), indicators.num_rows))
    links = _read(con, s, sorted((d / "links").glob("*.csv")), LINK_COLUMNS)
    return Catalog(
        countries=countries, indicators=indicators, links=links,
        thresholds=_read(con, s, [d / "progress" / "thresholds.csv"], THRESHOLD_COLUMNS),
        targets=_all_countries(_read(con, s, [d / "progress" / "targets.csv"], TARGET_COLUMNS)),
        evidence=_all_countries(_read(con, s, [evidence_path(s)], EVIDENCE_COLUMNS)),
    )


def _all_countries(t: pa.Table) -> pa.Table:
    """An empty country means every country; it is stored as ALL because a key column cannot be null."""
    i = t.schema.get_field_index("country_iso3")
    return t.set_column(i, "country_iso3", pc.fill_null(t["country_iso3"], "ALL"))
