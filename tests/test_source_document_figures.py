"""Figures stated in the conference document: every quote checked against the document (bundled
markdown or the publisher's HTML page), every value against its quote; fetch_live against a local
server; and the mart that puts the figures beside ForeignAssistance.gov."""
from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows.config import Settings
from flows.registry import sources
from flows.sources import document_figures as dfg
from flows.sources import foreign_assistance as fa
from flows.sources.http import SourceError
from flows.validate import load_suite, quarantine_split
from tests.fakeserver import Reply, serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "document_figures"
DOC_ID = "dhs-2017-06-16-key-deliverables"
FIGURES = dfg.DOCUMENTS_DIR / dfg.FIGURES_FILE
MARKDOWN = dfg.DOCUMENTS_DIR / f"{DOC_ID}.md"
PAGE = FIXTURES / f"{DOC_ID}.html"
DOC_PATH = "/news/2017/06/16/united-states-key-deliverables-june-15-16-2017-conference-prosperity-and-security"
TITLE = ("United States Key Deliverables for the June 15-16, 2017 Conference on Prosperity and Security "
         "in Central America")
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
HTML_TYPE = "text/html; charset=utf-8"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def by_indicator(t: pa.Table) -> dict[str, dict]:
    return {r["indicator_id"]: r for r in t.to_pylist()}


def edited(tmp_path: Path, source: Path, replace: list[tuple[str, str]], name: str | None = None) -> Path:
    text = source.read_text(encoding="utf-8")
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / (name or source.name)
    path.write_text(text, encoding="utf-8")
    return path


# --- the figures ------------------------------------------------------------------------------
def test_the_three_stated_figures(con) -> None:
    got = by_indicator(dfg.parse(con, [FIGURES, MARKDOWN]))
    assert {k: v["value"] for k, v in got.items()} == {
        "DOC.USG.ASSIST.ALLOCATED": 1_300_000_000, "DOC.USG.ASSIST.APPROPRIATED": 655_000_000,
        "DOC.USG.ASSIST.REQUESTED": 460_000_000}
    for r in got.values():
        assert r["qualifier"] == "document_stated" and r["country_iso3"] == "XCA"
        assert r["citation"] == TITLE and r["source_url"] == f"https://www.dhs.gov{DOC_PATH}"
        assert r["unit"] == "USD" and r["source_file"] == "document_figures.csv"
    many = got["DOC.USG.ASSIST.ALLOCATED"]
    assert (many["period"], many["period_type"], many["period_start"], many["period_end"], many["year"]) == (
        "FY2014/FY2017", "multi_year", date(2013, 10, 1), date(2017, 6, 16), 2017)
    assert "since the launch of the Alliance for Prosperity in 2014" in many["note"]
    fy17 = got["DOC.USG.ASSIST.APPROPRIATED"]
    assert (fy17["period"], fy17["period_type"], fy17["period_start"], fy17["period_end"]) == (
        "FY2017", "us_fiscal_year", date(2016, 10, 1), date(2017, 9, 30))
    fy18 = got["DOC.USG.ASSIST.REQUESTED"]
    assert (fy18["period"], fy18["year"], fy18["source_row"]) == ("FY2018", 2018, 4)


def test_without_a_copy_the_bundled_document_is_read(con) -> None:
    assert dfg.parse(con, [FIGURES]).to_pylist() == dfg.parse(con, [FIGURES, MARKDOWN]).to_pylist()


def test_the_publishers_html_page_checks_the_same(con) -> None:
    got = by_indicator(dfg.parse(con, [FIGURES, PAGE]))
    assert {r["qualifier"] for r in got.values()} == {"document_stated"}
    # title and address from the bundled front matter, not the page's "... | Homeland Security"
    assert got["DOC.USG.ASSIST.REQUESTED"]["citation"] == TITLE


def test_a_page_given_alone_is_checked_against_the_projects_figures(con, tmp_path) -> None:
    page = edited(tmp_path, PAGE, [("$460 million", "$450 million")])
    got = by_indicator(dfg.parse(con, [page]))
    assert got["DOC.USG.ASSIST.REQUESTED"]["qualifier"] == "quote_not_in_document"
    assert got["DOC.USG.ASSIST.ALLOCATED"]["qualifier"] == "document_stated"
    assert got["DOC.USG.ASSIST.ALLOCATED"]["source_file"] == dfg.FIGURES_FILE


def test_a_changed_page_flags_the_quote_it_no_longer_carries(con, tmp_path) -> None:
    page = edited(tmp_path, PAGE, [("$655 million", "$650 million")])
    got = by_indicator(dfg.parse(con, [FIGURES, MARKDOWN, page]))
    flagged = got["DOC.USG.ASSIST.APPROPRIATED"]
    assert flagged["qualifier"] == "quote_not_in_document"
    assert flagged["note"].startswith(f"Quote not found verbatim in {DOC_ID}.html.")
    assert flagged["value"] == 655_000_000  # kept: the validator quarantines it with the reason
    assert got["DOC.USG.ASSIST.REQUESTED"]["qualifier"] == "document_stated"


def test_a_mistyped_value_is_flagged(con, tmp_path) -> None:
    figures = edited(tmp_path, FIGURES, [(",655000000,", ",665000000,")])
    flagged = by_indicator(dfg.parse(con, [figures]))["DOC.USG.ASSIST.APPROPRIATED"]
    assert flagged["qualifier"] == "figure_not_in_quote"
    assert flagged["note"].startswith("The value 665000000 is not a figure written in the quote.")


def test_a_paraphrased_quote_is_flagged(con, tmp_path) -> None:
    figures = edited(tmp_path, FIGURES, [("The U.S. Congress included $655 million", "The U.S. Congress appropriated $655 million")])
    got = by_indicator(dfg.parse(con, [figures]))
    assert got["DOC.USG.ASSIST.APPROPRIATED"]["qualifier"] == "quote_not_in_document"
    assert got["DOC.USG.ASSIST.ALLOCATED"]["qualifier"] == "document_stated"


def test_a_value_that_is_not_a_number_keeps_its_text(con, tmp_path) -> None:
    figures = edited(tmp_path, FIGURES, [(",1300000000,", ",1.3bn,")])
    row = by_indicator(dfg.parse(con, [figures]))["DOC.USG.ASSIST.ALLOCATED"]
    assert row["value"] is None and row["value_text"] == "1.3bn" and row["qualifier"] == "figure_not_in_quote"


def test_whitespace_in_the_quote_is_collapsed(con, tmp_path) -> None:
    figures = edited(tmp_path, FIGURES, [("includes $460 million", "includes  $460\u00a0million")])
    assert by_indicator(dfg.parse(con, [figures]))["DOC.USG.ASSIST.REQUESTED"]["qualifier"] == "document_stated"


def test_html_text_drops_tags_scripts_and_entities() -> None:
    markup = ("<head><script>var x = '$655 million';</script></head><p>The U.S. Congress included "
              "$<b>655</b>&nbsp;million in Fiscal&#32;Year 2017.</p><p>Next</p><!-- $1 -->")
    assert dfg.html_text(markup) == "The U.S. Congress included $655 million in Fiscal Year 2017. Next"


@pytest.mark.parametrize("make, rule", [
    (lambda tmp: edited(tmp, FIGURES, [("period_start,period_end", "start,end")]), "header"),
    (lambda tmp: edited(tmp, FIGURES, [(f"{DOC_ID},The U.S. Congress", "unknown-doc,The U.S. Congress")]), "document_missing"),
    (lambda tmp: edited(tmp, FIGURES, [("\n", "\n")], name="figures.txt"), "unknown_file"),
])
def test_bad_inputs_are_source_errors(con, tmp_path, make, rule) -> None:
    path = make(tmp_path)
    with pytest.raises(SourceError) as err:
        dfg.parse(con, [path])
    assert err.value.rule == rule and err.value.file == str(path)


def test_parse_of_nothing_is_empty(con) -> None:
    assert dfg.parse(con, []).num_rows == 0


# --- per-source rules -------------------------------------------------------------------------
def test_flagged_figures_are_quarantined_with_the_note(con, tmp_path) -> None:
    figures = edited(tmp_path, FIGURES, [(",655000000,", ",665000000,")])
    t = dfg.parse(con, [figures])
    batch = t.append_column("row_id", pa.array(range(1, t.num_rows + 1), pa.int64()))
    good, bad, counts = quarantine_split(batch, load_suite("sources/document_figures"), {},
                                         source="document_figures", file=figures.name)
    assert counts["doc_figure_checked"] == 1 and good.num_rows == 2
    assert bad.column("bad_value").to_pylist()[0].startswith("The value 665000000 is not a figure")


# --- bundled snapshot -------------------------------------------------------------------------
def test_snapshot_is_the_figures_and_the_document(con) -> None:
    src = sources()["document_figures"]
    files = src.snapshot_files(Settings())
    assert sorted(f.name for f in files) == sorted([dfg.FIGURES_FILE, f"{DOC_ID}.md"])
    with open(dfg.DOCUMENTS_DIR / "manifest.csv", newline="", encoding="utf-8") as fh:
        for entry in csv.DictReader(fh):
            assert entry["sha256"] == hashlib.sha256((dfg.DOCUMENTS_DIR / entry["file"]).read_bytes()).hexdigest()
    assert set(src.snapshot_retrieved_at(Settings())) == {f.name for f in files}
    assert {r["qualifier"] for r in dfg.parse(con, files).to_pylist()} == {"document_stated"}


# --- fetch_live -------------------------------------------------------------------------------
def test_fetch_live_lands_the_page_and_the_figures(tmp_path, con) -> None:
    with serving() as fake:
        fake.on(DOC_PATH, None, Reply(b"busy", status=503, content_type="text/plain"),
                Reply(PAGE.read_bytes(), content_type=HTML_TYPE))
        paths = dfg.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
        assert fake.hits[DOC_PATH] == 2
    assert [p.name for p in paths] == [dfg.FIGURES_FILE, f"{DOC_ID}.html"]
    assert paths[0].read_bytes() == FIGURES.read_bytes() and paths[1].read_bytes() == PAGE.read_bytes()
    assert {r["qualifier"] for r in dfg.parse(con, paths).to_pylist()} == {"document_stated"}


@pytest.mark.parametrize("body, status, rule", [
    ((FIXTURES / "page_not_found.html").read_bytes(), 200, "wrong_page"),  # an error page served as success
    (b'{"error": "not found"}', 200, "not_html"),
    (b"gone", 404, "http_status"),
])
def test_fetch_live_refuses_what_is_not_the_document(tmp_path, body, status, rule) -> None:
    with serving() as fake:
        fake.on(DOC_PATH, None, Reply(body, status=status, content_type=HTML_TYPE))
        with pytest.raises(SourceError) as err:
            dfg.fetch_live(Settings(), tmp_path, base_url=fake.origin, **FAST)
    assert err.value.rule == rule and err.value.url == f"{fake.origin}{DOC_PATH}"
    assert not (tmp_path / f"{DOC_ID}.html").exists()


# --- the mart ---------------------------------------------------------------------------------
def test_mart_puts_the_stated_figures_beside_the_published_sums(con) -> None:
    s = Settings()
    published = fa.parse(con, sources()["foreign_assistance"].snapshot_files(s))
    stated = dfg.parse(con, sources()["document_figures"].snapshot_files(s))
    cols = "indicator_id, country_iso3, period, period_type, year, value, sex, breakdown"
    con.register("published", published)
    con.register("stated", stated)
    con.sql(f"""CREATE TABLE fact_observation AS
        SELECT {cols.replace('sex, breakdown', "'total' AS sex, 'total' AS breakdown")}, 'foreign_assistance' AS source_id FROM published
        UNION ALL
        SELECT {cols.replace('sex, breakdown', "'total' AS sex, 'total' AS breakdown")}, 'document_figures' AS source_id FROM stated""")
    con.sql((ROOT / "sql" / "marts" / "mart_assistance_vs_document.sql").read_text(encoding="utf-8"))
    rows = {(r[0], r[1]): r[2:] for r in con.sql(
        "SELECT stated_indicator, country_group, stated_usd, published_usd, fiscal_years_published, "
        "countries_published FROM mart_assistance_vs_document").fetchall()}
    assert len(rows) == 6
    # FY2017 appropriated and planned: GTM 140,446,000 + HND 95,260,000 + SLV 72,759,000
    assert rows[("DOC.USG.ASSIST.APPROPRIATED", "Northern Triangle")] == (655_000_000, 308_465_000, 1, 3)
    # FY2018 requests: GTM 80,660,000 + HND 67,850,000 + SLV 46,426,000
    assert rows[("DOC.USG.ASSIST.REQUESTED", "Northern Triangle")][1] == 194_936_000
    # obligations FY2014..FY2017: four fiscal years, never the FY2025YTD rows
    stated_usd, obligations, years, countries = rows[("DOC.USG.ASSIST.ALLOCATED", "Central America")]
    assert (stated_usd, years, countries) == (1_300_000_000, 4, 7)
    assert obligations == con.sql(
        "SELECT sum(value) FROM fact_observation WHERE indicator_id = 'FA.OBLIG.USD_CURRENT' "
        "AND year BETWEEN 2014 AND 2017 AND country_iso3 IN ('BLZ','CRI','SLV','GTM','HND','NIC','PAN')").fetchall()[0][0]
