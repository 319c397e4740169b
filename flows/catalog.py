"""The curated catalog (data/catalog/*.csv) as Arrow tables shaped by the table contracts.

The catalog is data, not code: countries, indicators with their unit, direction and plausible
range, and the commitment-indicator links with a rationale each. This module only reads it.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from flows.config import Settings


@dataclass(frozen=True)
class Catalog:
    countries: pa.Table
    indicators: pa.Table
    links: pa.Table  # commitment_id, key_phrase, indicator_id (null = not measurable), relation, base_year, rationale

    @property
    def country_codes(self) -> list[str]:
        return sorted(self.countries.column("country_iso3").to_pylist())

    @property
    def indicator_ids(self) -> list[str]:
        return sorted(self.indicators.column("indicator_id").to_pylist())


def read_catalog(s: Settings) -> Catalog:
    con = duckdb.connect()
    d = s.catalog_dir

    def csv(name: str, columns: dict[str, str]) -> pa.Table:
        return con.sql(
            "SELECT * FROM read_csv($path, header=true, columns=$columns, nullstr='', quote='\"')",
            params={"path": str(d / name), "columns": columns},
        ).to_arrow_table()

    countries = csv(
        "countries.csv",
        {"country_iso3": "VARCHAR", "wb_id": "VARCHAR", "country_name": "VARCHAR", "group_name": "VARCHAR", "is_focus": "BOOLEAN"},
    )
    indicators = con.sql(
        "SELECT *, true AS is_catalogued FROM read_csv($path, header=true, columns=$columns, nullstr='')",
        params={
            "path": str(d / "indicators.csv"),
            "columns": {
                "indicator_id": "VARCHAR", "name": "VARCHAR", "unit": "VARCHAR", "source_id": "VARCHAR",
                "publisher": "VARCHAR", "licence": "VARCHAR", "direction": "VARCHAR", "valid_min": "DOUBLE",
                "valid_max": "DOUBLE", "flat_band": "DOUBLE", "flat_band_kind": "VARCHAR", "theme": "VARCHAR",
                "notes": "VARCHAR",
            },
        },
    ).to_arrow_table()
    links = csv(
        "commitment_indicators.csv",
        {"commitment_id": "VARCHAR", "key_phrase": "VARCHAR", "indicator_id": "VARCHAR", "relation": "VARCHAR",
         "base_year": "INTEGER", "rationale": "VARCHAR"},
    )
    return Catalog(countries=countries, indicators=indicators, links=links)
