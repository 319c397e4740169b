"""The progress method (Open SDG measure) computed by the marts, checked against the formula, and
the scorecard, evidence register and the other marts on the published warehouse."""
from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest

from flows.config import settings
from flows.evidence import Evidence, EvidenceError, add
from tests.test_pipeline import one, ro

STATUSES = {"target_achieved", "on_track", "needs_acceleration", "limited_progress", "deterioration", "not_available"}


def trend_status(measure: float) -> str:
    return ("on_track" if measure >= 0.015 else "needs_acceleration" if measure >= 0.005
            else "limited_progress" if measure >= 0 else "deterioration")


def test_statuses_follow_the_formula_without_a_target(published):
    con = ro(published)
    rows = con.sql("""
        SELECT direction, baseline_year, baseline_value, latest_year, latest_value, growth_method, cagr_observed, status
        FROM mart_commitment_progress WHERE method = 'trend' AND status <> 'not_available'""").fetchall()
    assert len(rows) > 200
    methods = set()
    for direction, y0, v0, yi, vi, growth, cagr, status in rows:
        d = 1 if direction == "higher" else -1
        years = yi - y0
        expected = (vi / v0) ** (1 / years) - 1 if v0 > 0 and vi > 0 else (vi - v0) / abs(v0) / years
        assert cagr == pytest.approx(expected), (v0, vi)
        assert status == trend_status(d * expected), (direction, v0, vi, status)
        methods.add(growth)
    assert methods == {"compound", "linear"}  # governance estimates and net flows cross zero


def test_el_salvador_homicide_rate_is_on_track(published):
    con = ro(published)
    row = con.sql("""
        SELECT baseline_year, latest_year, status, cagr_observed FROM mart_commitment_progress
        WHERE indicator_id = 'VC.IHR.PSRC.P5' AND country_iso3 = 'SLV' AND theme = 'violence_youth' LIMIT 1""").fetchall()[0]
    assert row[0] == 2017 and row[1] >= 2022 and row[2] == "on_track" and row[3] < -0.2  # 63.8 -> 7.9 per 100,000


def test_not_available_says_why(published):
    con = ro(published)
    reasons = dict(con.sql("""
        SELECT status_reason, count(*) FROM mart_commitment_progress WHERE status = 'not_available' GROUP BY 1""").fetchall())
    assert set(reasons) <= {
        "the indicator has no better direction (context only)", "no value at or before the base year",
        "nothing published after the baseline year", "baseline is zero: growth is not defined"}
    assert one(con, "SELECT count(*) FROM mart_commitment_progress WHERE status NOT IN $s", s=list(STATUSES)) == 0


def test_a_stated_target_switches_to_observed_versus_required_growth(published, tmp_path):
    """A target (test-only, in a private copy) gives target_achieved or the ratio statuses."""
    copy = tmp_path / "ciw.duckdb"
    shutil.copy(published / "ciw.duckdb", copy)
    con = duckdb.connect(str(copy))
    cid = one(con, "SELECT commitment_id FROM mart_commitment_progress WHERE indicator_id = 'VC.IHR.PSRC.P5' AND theme = 'violence_youth' LIMIT 1")
    con.sql("""INSERT INTO progress_targets VALUES ($c, 'VC.IHR.PSRC.P5', 'GTM', 10.0, 2030, 'https://example.org/plan', 'test', 'test', 1),
                                                 ($c, 'VC.IHR.PSRC.P5', 'ALL', 20.0, 2030, 'https://example.org/plan', 'test', 'test', 2)""", params={"c": cid})
    con.sql((settings().sql_dir / "marts" / "mart_commitment_progress.sql").read_text())  # marts are rebuilt at publish
    got = {r[0]: r[1:] for r in con.sql("""
        SELECT country_iso3, target_value, status, baseline_value, baseline_year, latest_value, cagr_observed, cagr_required, progress_ratio
        FROM mart_commitment_progress WHERE commitment_id = $c AND indicator_id = 'VC.IHR.PSRC.P5'""", params={"c": cid}).fetchall()}
    assert got["GTM"][0] == 10.0 and got["HND"][0] == 20.0  # a country's own target wins over ALL
    assert got["SLV"][1] == "target_achieved"  # 7.9 is below 20
    target, status, v0, y0, vi, cagr, required, ratio = got["HND"]
    assert required == pytest.approx((target / v0) ** (1 / (2030 - y0)) - 1)
    assert ratio == pytest.approx(cagr / required)
    expected = ("on_track" if ratio >= 0.95 else "needs_acceleration" if ratio >= 0.6
                else "limited_progress" if ratio >= 0 else "deterioration")
    assert status == (expected if vi > target else "target_achieved")


def test_scorecard_counts_match_progress_rows(published):
    con = ro(published)
    mismatched = one(con, """
        SELECT count(*) FROM mart_commitment_scorecard s
        JOIN (SELECT commitment_id, country_iso3, count(*) AS n,
                     count(*) FILTER (WHERE status = 'deterioration') AS det
              FROM mart_commitment_progress GROUP BY ALL) p USING (commitment_id, country_iso3)
        WHERE s.indicators <> p.n OR s.n_deterioration <> p.det""")
    assert mismatched == 0
    assert one(con, "SELECT count(DISTINCT commitment_id) FROM mart_commitment_scorecard") == 22
    assert one(con, "SELECT count(*) FROM mart_commitment_scorecard WHERE status NOT IN $s", s=list(STATUSES)) == 0


def test_qualitative_commitments_show_their_evidence(published):
    con = ro(published)
    rows = con.sql("""
        SELECT DISTINCT commitment_id, evidence_status, evidence_source FROM mart_commitment_scorecard
        WHERE evidence_status IS NOT NULL""").fetchall()
    assert len(rows) == 6 and all(r[2].startswith("https://www.dhs.gov/") for r in rows)


def test_other_marts_answer(published):
    con = ro(published)
    assert one(con, "SELECT count(*) FROM mart_indicator_latest WHERE indicator_id = 'OHSS.USBP.ENCOUNTERS' AND country_iso3 = 'GTM' AND latest_period = 'FY2024'") == 1
    assert one(con, "SELECT observations FROM mart_country_profile WHERE country_iso3 = 'GTM'") > 1000
    fresh = dict(con.sql("SELECT source_id, rows_in_quarantine FROM mart_source_freshness").fetchall())
    assert fresh["mer_compiled"] > 0 and fresh["worldbank"] == 0


def test_evidence_add_appends_a_checked_row(private_data):
    s = settings()
    register = private_data / "evidence" / "register.csv"
    original = register.read_bytes()
    known = {"c1"}
    try:
        with pytest.raises(EvidenceError, match="status must be one of"):
            add(s, Evidence("c1", "done", date(2018, 4, 1), "https://x.org/a", "note"), known, {"GTM"})
        with pytest.raises(EvidenceError, match="http"):
            add(s, Evidence("c1", "complete", date(2018, 4, 1), "x.org/a", "note"), known, {"GTM"})
        with pytest.raises(EvidenceError, match="unknown commitment"):
            add(s, Evidence("c2", "complete", date(2018, 4, 1), "https://x.org/a", "note"), known, {"GTM"})
        assert register.read_bytes() == original
        row = add(s, Evidence("c1", "limited", date(2018, 4, 1), "https://x.org/a", "a  note\nover lines", "GTM"), known, {"GTM"})
        assert register.read_bytes().startswith(original) and register.read_text().endswith("\n")
        assert row["note"] == "a note over lines" and row["country_iso3"] == "GTM"
    finally:
        register.write_bytes(original)
