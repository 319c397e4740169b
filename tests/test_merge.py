"""Merging a batch into the state being built (Build.merge_observations): a first load inserts new
keys past an anti join, a re-load classifies new and revised rows in one join. The two are a choice
of cost only, so they must leave the same state and report the same counts."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from flows import steps
from flows.catalog import read_catalog
from flows.config import settings
from flows.contracts import contract
from flows.duck import registered
from flows.load import Build, classify_in_one_join


def _rows(build: Build, source: str, values: dict[str, float], batch: str) -> pa.Table:
    indicator, country = build.con.sql(
        "SELECT (SELECT min(indicator_id) FROM dim_indicator), (SELECT min(country_iso3) FROM dim_country)").fetchall()[0]
    rows = [{
        "indicator_id": indicator, "country_iso3": country, "period": period, "period_type": "year",
        "period_start": datetime(int(period), 1, 1).date(), "period_end": datetime(int(period), 12, 31).date(),
        "year": int(period), "sex": "total", "breakdown": "total", "value": value, "source_id": source,
        "publisher": source, "licence": "test", "source_url": "https://example.org/", "batch_id": batch,
        "retrieved_at": datetime(2026, 1, 1 + len(batch) % 20), "source_file": f"{batch}.json", "source_row": i + 1,
    } for i, (period, value) in enumerate(values.items())]
    return pa.Table.from_pylist(rows, schema=contract("fact_observation").arrow_schema())


def _merge_into_held_state(one_join: bool | None) -> tuple[tuple, list, list, set]:
    s = settings()
    b = Build(s, f"20990101T000000Z-merge-{one_join}")
    try:
        steps.load_reference(s, b, read_catalog(s), steps.extract_commitments(s))
        b.insert("fact_observation", _rows(b, "worldbank", {"2017": 1.0, "2018": 1.0, "2019": 1.0}, "worldbank-old"))
        b.insert("fact_observation", _rows(b, "owid", {"2016": 1.0}, "owid-old"))
        # unchanged 2018, revised 2019 (its own row) and 2016 (owid's row), new 2020; 2017 not in the batch
        batch = _rows(b, "worldbank", {"2016": 3.0, "2018": 1.0, "2019": 2.0, "2020": 1.0}, "worldbank-new")
        with registered(b.con, _incoming=batch):
            counts = b.merge_observations(batch.num_rows, "worldbank", one_join=one_join)
        facts = b.con.sql("SELECT period, value, source_id, batch_id, retrieved_at, source_row FROM fact_observation ORDER BY ALL").fetchall()
        history = b.con.sql("SELECT * FROM fact_observation_history ORDER BY ALL").fetchall()
        return (counts.inserted, counts.changed, counts.unchanged, counts.flagged), facts, history, set(b._revised_sources)
    finally:
        b.abort()


def test_a_first_load_and_a_reload_merge_to_the_same_state(ciw_home):
    anti_join, one_join = _merge_into_held_state(False), _merge_into_held_state(True)
    assert one_join == anti_join
    counts, facts, history, revised = one_join
    assert counts == (1, 2, 1, 2)  # inserted (new), changed, unchanged, flagged (both doubled or more)
    assert [(p, v, src, b) for p, v, src, b, *_ in facts] == [
        ("2016", 3.0, "worldbank", "worldbank-new"), ("2017", 1.0, "worldbank", "worldbank-old"),
        ("2018", 1.0, "worldbank", "worldbank-old"),  # unchanged: keeps the load that first brought it
        ("2019", 2.0, "worldbank", "worldbank-new"), ("2020", 1.0, "worldbank", "worldbank-new"),
    ]
    assert len(history) == 2 and revised == {"worldbank", "owid"}


@pytest.mark.parametrize("held, rows, expected", [(0, 10, False), (4, 10, False), (5, 10, True), (10, 10, True), (3, 0, False)])
def test_a_source_holding_about_as_many_rows_as_it_brings_is_merged_in_one_join(held, rows, expected):
    assert classify_in_one_join(held, rows) is expected
