"""The checks a new state must pass before it is published (sql/checks/integrity.sql): keys the
tables keep without an index are held once, and a state that breaks a check is not published."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from flows import steps
from flows.catalog import read_catalog
from flows.config import settings
from flows.contracts import contract
from flows.load import Build, PublishError


@pytest.fixture
def build(ciw_home):
    s = settings()
    b = Build(s, "20990101T000000Z-integrity")
    steps.load_reference(s, b, read_catalog(s), steps.extract_commitments(s))
    yield b
    b.abort()


def _fact_row(build: Build) -> pa.Table:
    indicator, country = build.con.sql(
        "SELECT (SELECT min(indicator_id) FROM dim_indicator), (SELECT min(country_iso3) FROM dim_country)").fetchall()[0]
    row = {
        "indicator_id": indicator, "country_iso3": country, "period": "2020", "period_type": "year",
        "period_start": datetime(2020, 1, 1).date(), "period_end": datetime(2020, 12, 31).date(), "year": 2020,
        "sex": "total", "breakdown": "total", "value": 1.5, "source_id": "worldbank", "publisher": "World Bank",
        "licence": "CC BY 4.0", "source_url": "https://api.worldbank.org/v2/", "batch_id": "worldbank-test",
        "retrieved_at": datetime(2026, 1, 1), "source_file": "test.json", "source_row": 1,
    }
    return pa.Table.from_pylist([row], schema=contract("fact_observation").arrow_schema())


def _quarantine_row(rule: str = "value_in_plausible_range") -> pa.Table:
    row = {
        "batch_id": "worldbank-test", "source_id": "worldbank", "target_table": "fact_observation",
        "source_file": "test.json", "source_row": 7, "record_key": "X|GTM|2020|total|total", "rule_id": rule,
        "expectation_type": "expect_column_values_to_be_between", "column_name": "value", "bad_value": "-1",
        "reason": "value outside the plausible range", "record": "{}", "retrieved_at": datetime(2026, 1, 1),
    }
    schema = contract("quarantine").arrow_schema()
    return pa.Table.from_pylist([row], schema=pa.schema([f for f in schema if f.name in row]))


def test_a_fact_key_held_twice_blocks_the_publish(build):
    build.insert("fact_observation", _fact_row(build))
    build.insert("fact_observation", _fact_row(build))
    with pytest.raises(PublishError, match="fact_observation keys held more than once: 1 rows"):
        build.finish()
    assert not settings().db_path.exists()


def test_a_quarantine_row_recorded_twice_blocks_the_publish(build):
    build.insert("quarantine", _quarantine_row())
    build.insert("quarantine", _quarantine_row())
    with pytest.raises(PublishError, match="quarantine rows recorded more than once: 1 rows"):
        build.finish()
    assert not settings().db_path.exists()


def test_quarantine_rows_already_held_are_not_added_again(build):
    def held() -> int:
        return build.con.sql("SELECT count(*) FROM quarantine WHERE batch_id = 'worldbank-test'").fetchall()[0][0]

    build.insert("quarantine", _quarantine_row(), ignore_existing=True)
    assert held() == 1
    # the same row again, a double within one batch, and a second rule on the same row
    batch = pa.concat_tables([_quarantine_row(), _quarantine_row(), _quarantine_row("value_is_number")])
    build.insert("quarantine", batch, ignore_existing=True)
    assert held() == 2
    counts = build.finish()
    assert counts["fact_observation"] == 0 and settings().db_path.exists()

