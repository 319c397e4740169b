"""Every registered source, loaded together by one nightly run on the bundled snapshots: each one
lands rows with full provenance, the commitments that need them are measured, nothing is mixed."""
from __future__ import annotations

import pytest

from flows.registry import sources
from flows.warehouse import status
from tests.test_pipeline import one, ro

MEASURED_THEMES = ("security_cooperation", "border_security", "migration", "energy_siepac", "assistance")


def test_every_source_loads_rows(published):
    con = ro(published)
    loaded = dict(con.sql("SELECT source_id, count(*) FROM fact_observation GROUP BY 1").fetchall())
    for sid in sources():
        assert loaded.get(sid, 0) > 0, f"{sid} loaded nothing"
    statuses = dict(con.sql("SELECT source_id, status FROM run_log").fetchall())
    assert set(statuses) == set(sources()) and set(statuses.values()) == {"loaded"}


def test_every_row_names_publisher_licence_address_and_retrieval(published):
    con = ro(published)
    missing = one(con, """
        SELECT count(*) FROM fact_observation
        WHERE coalesce(publisher, '') = '' OR coalesce(licence, '') = '' OR coalesce(source_url, '') = ''
           OR retrieved_at IS NULL OR batch_id IS NULL OR source_file IS NULL OR source_row IS NULL""")
    assert missing == 0
    bad_urls = one(con, "SELECT count(*) FROM fact_observation WHERE NOT regexp_matches(source_url, '^https?://')")
    assert bad_urls == 0


def test_status_lists_each_source_with_rows_periods_and_freshness(published, monkeypatch):
    monkeypatch.setenv("CIW_HOME", str(published))
    report = {r["source_id"]: r for r in status()["freshness"]}
    assert set(report) == set(sources())
    for sid, r in report.items():
        assert r["rows"] > 0 and r["covers_from"] <= r["covers_to"], sid
        assert r["retrieved_at"] is not None and r["days_since_retrieval"] >= 0, sid
    assert report["ohss_encounters"]["covers_from"].isoformat() == "1999-10-01"  # FY2000 starts in October 1999


@pytest.mark.parametrize("theme", MEASURED_THEMES)
def test_each_commitment_of_the_measured_themes_has_an_indicator_with_data(published, theme):
    con = ro(published)
    rows = con.sql("""
        SELECT c.commitment_id, count(DISTINCT o.indicator_id)
        FROM dim_commitment c
        LEFT JOIN bridge_commitment_indicator b USING (commitment_id)
        LEFT JOIN observation o ON o.indicator_id = b.indicator_id
        WHERE c.theme = $theme GROUP BY 1""", params={"theme": theme}).fetchall()
    assert rows, theme
    assert all(n > 0 for _, n in rows), rows


def test_the_two_encounter_publishers_stay_apart(published):
    con = ro(published)
    # same citizenship and fiscal year, two measures: both kept, under their own source and indicator
    pairs = con.sql("""
        SELECT indicator_id, source_id, value FROM fact_observation
        WHERE country_iso3 = 'GTM' AND period = 'FY2024' AND sex = 'total'
          AND breakdown IN ('total') AND indicator_id IN ('OHSS.USBP.ENCOUNTERS', 'CBP.SWB.ENCOUNTERS')
        ORDER BY 1""").fetchall()
    assert pairs == [("CBP.SWB.ENCOUNTERS", "cbp_encounters", 204252.0), ("OHSS.USBP.ENCOUNTERS", "ohss_encounters", 196060.0)]


def test_part_year_and_to_date_values_never_enter_the_progress_trend(published):
    con = ro(published)
    leaked = one(con, """
        SELECT count(*) FROM mart_commitment_progress m
        JOIN observation o ON o.indicator_id = m.indicator_id AND o.country_iso3 = m.country_iso3
         AND o.year = m.latest_year AND o.value = m.latest_value
        WHERE o.period_type NOT IN ('year', 'us_fiscal_year')
          AND NOT EXISTS (SELECT 1 FROM observation w WHERE w.indicator_id = o.indicator_id
                          AND w.country_iso3 = o.country_iso3 AND w.year = o.year
                          AND w.period_type IN ('year', 'us_fiscal_year') AND w.value = o.value)""")
    assert leaked == 0
    ytd = one(con, "SELECT count(*) FROM fact_observation WHERE period LIKE 'FY%YTD' AND period_type = 'us_fiscal_year_to_date'")
    assert ytd > 0


def test_derived_ratios_equal_the_published_inputs(published):
    con = ro(published)
    slv = one(con, """
        SELECT d.value - 100 * n.value / g.value FROM observation d
        JOIN fact_observation n ON n.indicator_id = 'BX.TRF.PWKR.CD.DT' AND n.country_iso3 = d.country_iso3 AND n.period = d.period
        JOIN fact_observation g ON g.indicator_id = 'NY.GDP.MKTP.CD' AND g.country_iso3 = d.country_iso3 AND g.period = d.period
        WHERE d.indicator_id = 'CIW.REMIT.GDP_PCT' AND d.country_iso3 = 'SLV' AND d.period = '2022'""")
    assert abs(slv) < 1e-9
    assert one(con, "SELECT count(*) FROM observation WHERE source_id = 'derived' AND indicator_id = 'CIW.FDI.GDP_PCT'") > 100


def test_mer_rows_that_cannot_be_trusted_are_quarantined_with_their_reason(published):
    con = ro(published)
    by_rule = dict(con.sql("""
        SELECT rule_id, count(DISTINCT source_row) FROM quarantine WHERE source_id = 'mer_compiled' GROUP BY 1""").fetchall())
    assert by_rule.get("unique_observation_key", 0) >= 2  # conflicting copies: all kept out, none picked
    assert by_rule.get("period_present", 0) >= 1  # undated figures
    assert by_rule.get("mer_unit_as_printed", 0) >= 1  # units printed wrongly in the source
    lower = one(con, "SELECT count(*) FROM fact_observation WHERE source_id = 'mer_compiled' AND qualifier = 'lower_bound'")
    assert lower > 0
