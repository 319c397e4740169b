"""The validator: suites in expectations/ evaluated in DuckDB agree with Great Expectations, cover
every failing row (no cap), and split duplicates the way analysts need."""
from __future__ import annotations

import json
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from flows.validate import (
    BatchRejected,
    default_params,
    gx_failed_row_ids,
    gx_validate,
    load_suite,
    quarantine_split,
)

PARAMS = {**default_params(), "known_countries": ["GTM", "HND", "SLV"]}


def fact_batch(rows: list[dict]) -> pa.Table:
    """A staged fact_observation batch with the rule-context columns the suite expects."""
    base = {
        "indicator_id": "VC.IHR.PSRC.P5", "country_iso3": "GTM", "period": "2020", "year": 2020, "value": 15.3,
        "source_id": "worldbank", "batch_id": "worldbank-test", "retrieved_at": datetime(2026, 7, 1),
        "source_updated": date(2026, 7, 1), "source_file": "VC.IHR.PSRC.P5.json", "valid_min": 0.0, "valid_max": 500.0,
        "period_type": "year", "period_start": date(2020, 1, 1), "period_end": date(2020, 12, 31), "sex": "total",
        "breakdown": "total", "unit": None, "qualifier": None, "note": None, "publisher": "World Bank",
        "licence": "CC BY 4.0", "source_url": "https://api.worldbank.org/v2", "citation": None,
    }
    full = [{"row_id": i + 1, **base, "source_row": i + 1, **r} for i, r in enumerate(rows)]
    for row in full:
        row.setdefault("value_text", None if row["value"] is None else repr(row["value"]))
    schema = pa.schema([
        ("row_id", pa.int64()), ("indicator_id", pa.string()), ("country_iso3", pa.string()), ("period", pa.string()),
        ("year", pa.int32()), ("value", pa.float64()), ("value_text", pa.string()), ("source_id", pa.string()), ("batch_id", pa.string()),
        ("retrieved_at", pa.timestamp("us")), ("source_updated", pa.date32()), ("source_file", pa.string()),
        ("source_row", pa.int64()), ("valid_min", pa.float64()), ("valid_max", pa.float64()),
        ("period_type", pa.string()), ("period_start", pa.date32()), ("period_end", pa.date32()), ("sex", pa.string()),
        ("breakdown", pa.string()), ("unit", pa.string()), ("qualifier", pa.string()), ("note", pa.string()),
        ("publisher", pa.string()), ("licence", pa.string()), ("source_url", pa.string()), ("citation", pa.string()),
    ])
    return pa.Table.from_pylist(full, schema=schema)


def split(batch: pa.Table):
    return quarantine_split(batch, load_suite("fact_observation"), PARAMS, source="worldbank", file="test.json")


def test_good_rows_pass_untouched():
    batch = fact_batch([{"period": str(y), "year": y} for y in range(2000, 2010)])
    good, bad, counts = split(batch)
    assert good.num_rows == 10 and bad.num_rows == 0
    assert set(counts.values()) == {0}


@pytest.mark.parametrize(
    "row, rule_id, bad_value",
    [
        ({"country_iso3": "XXX"}, "known_country", "XXX"),
        ({"country_iso3": None}, "country_present", None),
        ({"indicator_id": None}, "indicator_id_present", None),
        ({"period": "20X0"}, "period_format", "20X0"),
        ({"year": 1955, "period": "1955"}, "year_in_range", "1955"),
        ({"year": 2999, "period": "2999"}, "year_in_range", "2999"),
        ({"value": -3.0, "period": "2019", "year": 2019}, "value_not_below_unit_minimum", "-3.0"),
        ({"value": 812.0, "period": "2019", "year": 2019}, "value_not_above_unit_maximum", "812.0"),
        ({"value": None, "value_text": "1,234.5", "period": "2019", "year": 2019}, "value_is_number", "1,234.5"),
        ({"value": None, "value_text": "12,5", "period": "2019", "year": 2019}, "value_is_number", "12,5"),
    ],
)
def test_each_row_rule_quarantines_with_rule_value_and_reason(row, rule_id, bad_value):
    batch = fact_batch([{}, row])
    good, bad, _ = split(batch)
    assert good.column("row_id").to_pylist() == [1]
    hits = bad.filter(pc.equal(bad["rule_id"], rule_id)).to_pylist()
    assert len(hits) == 1
    assert hits[0]["row_id"] == 2 and hits[0]["bad_value"] == bad_value
    assert (bad_value or "null") in hits[0]["reason"]
    assert '"row_id":2' in hits[0]["record"]


def test_duplicates_with_equal_values_keep_the_first_copy():
    batch = fact_batch([{}, {}, {"period": "2021", "year": 2021}])
    good, bad, _ = split(batch)
    assert good.column("row_id").to_pylist() == [1, 3]
    [dup] = bad.to_pylist()
    assert dup["row_id"] == 2 and dup["rule_id"] == "unique_observation_key"
    assert "duplicate of row 1 (same value)" in dup["reason"]


def test_duplicates_with_different_values_quarantine_every_copy():
    batch = fact_batch([{"value": 10.0}, {"value": 11.0}, {"period": "2021", "year": 2021}])
    good, bad, _ = split(batch)
    assert good.column("row_id").to_pylist() == [3]
    assert sorted(bad.column("row_id").to_pylist()) == [1, 2]
    assert all("conflicting copies" in r for r in bad.column("reason").to_pylist())


def test_empty_batch_is_rejected_whole():
    with pytest.raises(BatchRejected, match="batch_not_empty"):
        split(fact_batch([]))


def test_structural_mismatch_rejects_whole_batch_naming_the_columns():
    batch = fact_batch([{}]).drop_columns(["valid_max"]).append_column("surprise", pa.array([1]))
    with pytest.raises(BatchRejected) as exc:
        split(batch)
    assert exc.value.rule_id == "batch_columns"
    assert "valid_max" in str(exc.value) and "surprise" in str(exc.value) and "worldbank" in str(exc.value)


def test_no_cap_every_failing_row_is_found():
    n = 20_000  # GX itself lists at most 200 unexpected values
    rows = [{"period": str(2000 + i % 20), "year": 2000 + i % 20, "indicator_id": f"I{i // 20}", "country_iso3": "XXX" if i % 4 == 0 else "GTM"} for i in range(n)]
    good, bad, counts = split(fact_batch(rows))
    assert counts["known_country"] == n // 4
    assert bad.num_rows == n // 4 and good.num_rows == n - n // 4


def test_duckdb_engine_and_great_expectations_flag_the_same_rows():
    rows = [{}, {"country_iso3": "XXX", "period": "2001", "year": 2001}, {"value": 999.0, "period": "2002", "year": 2002},
            {"period": "1950", "year": 1950}, {"period": "2003", "year": 2003, "value": -1.0}, {"period": "abc", "year": None}]
    batch = fact_batch(rows)
    suite = load_suite("fact_observation")
    _, bad, _ = quarantine_split(batch, suite, PARAMS, source="worldbank", file="t")
    gx = gx_failed_row_ids(gx_validate(batch, suite, PARAMS))
    ours: dict[str, set[int]] = {}
    for r in bad.to_pylist():
        ours.setdefault(r["rule_id"], set()).add(r["row_id"])
    for rule in suite.rules:
        if rule.scope == "row" and rule.type != "expect_compound_columns_to_be_unique":
            assert ours.get(rule.rule_id, set()) == gx.get(rule.rule_id, set()), rule.rule_id


def test_every_suite_is_understood_by_the_duckdb_engine():
    from flows.config import settings

    names = [p.stem for p in settings().expectations_dir.glob("*.json")]
    assert {"fact_observation", "dim_commitment", "dim_indicator", "dim_country", "bridge_commitment_indicator"} <= set(names)
    for name in names:
        suite = load_suite(name)
        assert all(r.rule_id and r.meta.get("reason") for r in suite.rules), name


def test_great_expectations_validates_a_sample_of_a_big_batch_with_every_failing_row(tmp_path, monkeypatch):
    """Above gx_record_max_rows GX sees the failing rows and a fixed sample of the rest; its result
    says so and carries the DuckDB engine's counts over the whole batch."""
    import duckdb

    from flows import gx_record
    from flows.config import settings
    from flows.duck import registered
    from flows.validate import evaluate

    monkeypatch.setenv("CIW_HOME", str(tmp_path))
    monkeypatch.setenv("CIW_GX_RECORD_MAX_ROWS", "100")  # up to 100 // 50 = 2 failing rows in the sample
    rows = [{"period": str(1960 + i % 60), "year": 1960 + i % 60, "country_iso3": ["GTM", "HND", "SLV"][i // 60]} for i in range(180)]
    rows[7]["country_iso3"], rows[100]["value"] = "XKX", -5.0  # two failing rows among 180
    batch = fact_batch(rows)
    suite = load_suite("fact_observation")
    con = duckdb.connect()
    with registered(con, batch=batch):
        _, counts = evaluate(con, suite, PARAMS, source="worldbank", file="t")
        gx_record.record(settings(), "fact_observation", "worldbank-big", con, suite, PARAMS, counts)
    gx_record.write_pending()
    result = json.loads((tmp_path / "validations" / "fact_observation" / "worldbank-big.json").read_text())
    meta = result["meta"]
    assert meta["ciw_sampled"] is True and meta["ciw_rows_in_batch"] == 180 and 50 < meta["ciw_rows_validated_by_gx"] <= 100
    assert meta["ciw_engine_failures_per_rule"]["known_country"] == 1
    flagged = gx_failed_row_ids(result)
    assert flagged["known_country"] == {8} and flagged["value_not_below_unit_minimum"] == {101}  # row ids are 1-based
