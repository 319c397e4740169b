"""The World Bank connector against a real local HTTP server serving recorded API answers.

The server (127.0.0.1, port 0) routes by path + query, so each test states exactly which request
gets which answer, and counts requests so retries are checked, not assumed.
"""
from __future__ import annotations

import csv
import time
import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows.sources import http as wbhttp
from flows.sources import worldbank as wb
from flows.sources.http import SourceError
from flows.sources.observations import logical_schema
from tests.fakeserver import FakePublisher as FakeWorldBank, Reply, serving

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "worldbank"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}  # tiny backoff keeps the suite fast

VC = "VC.IHR.PSRC.P5"
VC_PATH = "/v2/country/SLV;GTM/indicator/VC.IHR.PSRC.P5"
GDP_PATH = "/v2/country/GTM/indicator/NY.GDP.MKTP.CD"
GDP_QUERY = {"format": "json", "date": "2022:2023", "per_page": "1000", "page": "1"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def vc_query(page: int) -> dict[str, str]:
    return {"format": "json", "date": "2019:2023", "per_page": "4", "page": str(page)}


@pytest.fixture
def api():
    with serving() as fake:
        fake.base_url = f"{fake.origin}/v2"
        yield fake


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def route_vc_pages(api: FakeWorldBank, replace: dict[int, bytes] | None = None) -> None:
    for page in (1, 2, 3):
        body = (replace or {}).get(page, fixture(f"{VC}.slv_gtm.p{page}.json"))
        api.on(VC_PATH, vc_query(page), Reply(body))


def fetch_vc(api: FakeWorldBank, dest: Path, **kw) -> list[Path]:
    return wb.fetch_indicator(VC, ["SLV", "GTM"], dest, base_url=api.base_url, date="2019:2023",
                              per_page=4, **{**FAST, **kw})


def fetch_gdp(api: FakeWorldBank, dest: Path, **kw) -> list[Path]:
    return wb.fetch_indicator("NY.GDP.MKTP.CD", ["GTM"], dest, base_url=api.base_url,
                              date="2022:2023", **{**FAST, **kw})


# ---------------------------------------------------------------------------------------------
# Declaration and URLs
# ---------------------------------------------------------------------------------------------
def test_build_url_is_the_documented_call() -> None:
    assert wb.build_url("NE.TRD.GNFS.ZS", ["GTM", "HND"], date="2000:2024") == (
        "https://api.worldbank.org/v2/country/GTM;HND/indicator/NE.TRD.GNFS.ZS"
        "?format=json&date=2000:2024&per_page=1000&page=1")
    assert wb.build_url("GOV_WGI_RL.EST", ["BGR"], page=3, per_page=200, source=3).endswith(
        "?format=json&date=2000:2025&per_page=200&page=3&source=3")
    assert "source=" not in wb.build_url("SP.POP.TOTL", ["USA"])


def test_default_countries_come_from_the_catalog() -> None:
    with wb.COUNTRIES_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # the catalog's regions (XCA, XMR) have no World Bank id: the connector leaves them out
    expected = tuple(r["country_iso3"] for r in rows if r["wb_id"])
    assert {r["country_iso3"] for r in rows if not r["wb_id"]} == {"XCA", "XMR"}
    assert wb.SOURCE_ID == "worldbank" and wb.BASE_URL == "https://api.worldbank.org/v2"
    assert wb.DEFAULT_COUNTRIES == expected and len(expected) == 9
    assert expected == ("BLZ", "CRI", "SLV", "GTM", "HND", "MEX", "NIC", "PAN", "USA")
    assert f"/country/{';'.join(expected)}/" in wb.build_url("SP.POP.TOTL", None)


# ---------------------------------------------------------------------------------------------
# Fetch + parse, the happy paths
# ---------------------------------------------------------------------------------------------
def test_three_pages_are_followed_and_parsed(api, tmp_path, con) -> None:
    route_vc_pages(api)
    paths = fetch_vc(api, tmp_path / "raw")

    assert [p.name for p in paths] == [f"{VC}.p1.json", f"{VC}.p2.json", f"{VC}.p3.json"]
    for n, p in enumerate(paths, start=1):  # landed raw, byte for byte
        assert p.read_bytes() == fixture(f"{VC}.slv_gtm.p{n}.json")
    assert api.hits[VC_PATH] == 3
    assert set(api.user_agents) == {"ciw/0.1"}
    assert not list((tmp_path / "raw").glob(".*"))  # no staging left behind

    t = wb.parse_files(con, paths)
    assert logical_schema(t.schema) == wb.OUTPUT_SCHEMA
    assert t.num_rows == 10
    assert t.column("source_row").to_pylist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    assert t.column("source_file").to_pylist() == [f"{VC}.p{n}.json" for n in (1,) * 4 + (2,) * 4 + (3,) * 2]
    assert t.column("country_iso3").to_pylist() == ["SLV"] * 5 + ["GTM"] * 5
    assert t.column("period").to_pylist() == ["2023", "2022", "2021", "2020", "2019"] * 2
    # Published figures (wdi_datahub/vc.ihr.psrc.p5.csv); SLV 2023 has none.
    assert t.column("value").to_pylist() == [
        None, 7.89768799960639, 17.343956146806, 21.5087446038674, 38.5386955905095,
        23.3657267272051, 22.0474401521257, 20.2458705569498, 18.1882859775834, 25.9415998284592]
    row = t.slice(1, 1).to_pylist()[0]
    assert row == {
        "indicator_id": VC, "indicator_name": "Intentional homicides (per 100,000 people)",
        "country_iso3": "SLV", "country_wb_id": "SV", "country_name": "El Salvador",
        "period": "2022", "value": 7.89768799960639, "value_text": "7.89768799960639", "unit": "", "obs_status": "", "decimal": 1,
        "source_database": "2", "lastupdated": date(2026, 7, 1), "source_file": f"{VC}.p1.json",
        "source_row": 2}


def test_null_values_stay_null(api, tmp_path, con) -> None:
    api.on("/v2/country/BLZ;GTM/indicator/EG.ELC.LOSS.ZS",
           {"format": "json", "date": "2021:2023", "per_page": "1000", "page": "1"},
           Reply(fixture("EG.ELC.LOSS.ZS.blz_gtm.json")))
    paths = wb.fetch_indicator("EG.ELC.LOSS.ZS", ["BLZ", "GTM"], tmp_path, base_url=api.base_url,
                               date="2021:2023", **FAST)
    t = wb.parse_files(con, paths)
    values = dict(zip(zip(t.column("country_iso3").to_pylist(), t.column("period").to_pylist()),
                      t.column("value").to_pylist()))
    assert values == {("BLZ", "2023"): None, ("BLZ", "2022"): None, ("BLZ", "2021"): None,
                      ("GTM", "2023"): None, ("GTM", "2022"): 12.9136582430806,
                      ("GTM", "2021"): 11.0501162490313}
    assert t.column("value").null_count == 4


def test_page_metadata_as_strings_and_source_3(api, tmp_path, con) -> None:
    api.on("/v2/country/GTM;HND/indicator/GOV_WGI_RL.EST",
           {"format": "json", "date": "2021:2023", "per_page": "1000", "page": "1", "source": "3"},
           Reply(fixture("GOV_WGI_RL.EST.gtm_hnd.json")))
    paths = wb.fetch_indicator("GOV_WGI_RL.EST", ["GTM", "HND"], tmp_path, base_url=api.base_url,
                               date="2021:2023", source=3, **FAST)
    t = wb.parse_files(con, paths)
    assert t.num_rows == 6
    assert set(t.column("source_database").to_pylist()) == {"3"}
    assert t.column("value").to_pylist()[:3] == [-1.0752770900726318, -1.1274635791778564,
                                                 -1.110256552696228]
    assert wb.read_page_meta(paths[0]).pages == 1


def test_meta_null_means_no_data(api, tmp_path, con) -> None:
    api.on("/v2/country/GTM/indicator/IC.BUS.EASE.XQ",
           {"format": "json", "date": "2020:2023", "per_page": "1000", "page": "1"},
           Reply(fixture("IC.BUS.EASE.XQ.gtm.no_data.json")))
    paths = wb.fetch_indicator("IC.BUS.EASE.XQ", ["GTM"], tmp_path, base_url=api.base_url,
                               date="2020:2023", **FAST)
    assert [p.name for p in paths] == ["IC.BUS.EASE.XQ.p1.json"]
    t = wb.parse_files(con, paths)
    assert t.num_rows == 0 and logical_schema(t.schema) == wb.OUTPUT_SCHEMA


# ---------------------------------------------------------------------------------------------
# Envelope errors
# ---------------------------------------------------------------------------------------------
def test_error_array_is_a_clear_source_error(api, tmp_path) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(fixture("error_120.json")))
    with pytest.raises(SourceError) as err:
        fetch_gdp(api, tmp_path)
    e = err.value
    assert e.rule == "api_error" and e.source == "worldbank" and e.url.startswith(api.base_url)
    assert "id 120" in str(e) and "'Invalid value'" in str(e)
    assert "The provided parameter value is not valid" in str(e) and e.url in str(e)
    assert api.hits[GDP_PATH] == 1  # an answer, not a failure: not retried
    assert list(tmp_path.iterdir()) == []


def test_html_page_with_status_200_is_refused(api, tmp_path) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(fixture("html_error.html"), content_type="text/html"))
    with pytest.raises(SourceError, match="got HTML where JSON was expected") as err:
        fetch_gdp(api, tmp_path)
    assert err.value.rule == "not_json"
    assert "Service Unavailable" in str(err.value) and err.value.url in str(err.value)


def test_page_count_changing_between_pages_is_an_error(api, tmp_path) -> None:
    doc = json.loads(fixture(f"{VC}.slv_gtm.p2.json"))
    doc[0]["pages"] = 4
    route_vc_pages(api, {2: json.dumps(doc).encode()})
    with pytest.raises(SourceError, match="page count changed from 3 to 4") as err:
        fetch_vc(api, tmp_path / "raw")
    assert err.value.rule == "page_count_changed"
    assert list((tmp_path / "raw").iterdir()) == []  # nothing half-landed


@pytest.mark.parametrize("bad_page3, message", [
    (b'[{"page":3,"pages":3,"per_page":4,"total":10,"sourceid":"2"},null]',
     "page 3 of 3 came back without rows"),
    (None, "asked for page 3, got page 2"),
])
def test_a_missing_page_is_an_error(api, tmp_path, bad_page3, message) -> None:
    route_vc_pages(api, {3: bad_page3 or fixture(f"{VC}.slv_gtm.p2.json")})
    with pytest.raises(SourceError, match=message) as err:
        fetch_vc(api, tmp_path)
    assert err.value.rule == "missing_page"


def test_short_pages_against_total_are_an_error(api, tmp_path) -> None:
    doc = json.loads(fixture(f"{VC}.slv_gtm.p3.json"))
    doc[1] = doc[1][:1]
    route_vc_pages(api, {3: json.dumps(doc).encode()})
    with pytest.raises(SourceError, match="pages held 9 rows but the API announced 10"):
        fetch_vc(api, tmp_path)


def test_stale_pages_go_and_a_failed_fetch_keeps_the_last_landing(api, tmp_path) -> None:
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / f"{VC}.p4.json").write_text("stale")
    route_vc_pages(api)
    fetch_vc(api, dest)
    assert sorted(p.name for p in dest.iterdir()) == [f"{VC}.p{n}.json" for n in (1, 2, 3)]
    before = {p.name: p.read_bytes() for p in dest.iterdir()}

    route_vc_pages(api, {2: fixture("error_120.json")})
    with pytest.raises(SourceError):
        fetch_vc(api, dest)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before


# ---------------------------------------------------------------------------------------------
# HTTP failures: retries, rate limits, timeouts
# ---------------------------------------------------------------------------------------------
def test_503_then_success_is_retried(api, tmp_path, con) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(b"busy", status=503, content_type="text/plain"),
           Reply(fixture("NY.GDP.MKTP.CD.gtm.json")))
    paths = fetch_gdp(api, tmp_path)
    assert api.hits[GDP_PATH] == 2
    assert wb.parse_files(con, paths).num_rows == 2


def test_429_honours_retry_after(api, tmp_path) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(b"slow down", status=429, headers={"Retry-After": "1"}),
           Reply(fixture("NY.GDP.MKTP.CD.gtm.json")))
    started = time.monotonic()
    fetch_gdp(api, tmp_path)
    assert time.monotonic() - started >= 0.9  # waited the server's second, not the tiny backoff
    assert api.hits[GDP_PATH] == 2


def test_429_with_a_long_retry_after_fails_at_once(api, tmp_path) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(b"", status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(SourceError, match="retry after 3600 s") as err:
        fetch_gdp(api, tmp_path)
    assert err.value.rule == "rate_limited" and api.hits[GDP_PATH] == 1


def test_persistent_500_gives_up_after_the_retries(api, tmp_path) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(b"oops", status=500, content_type="text/plain"))
    with pytest.raises(SourceError, match=r"HTTP 500 .*gave up after 3 attempt\(s\)") as err:
        fetch_gdp(api, tmp_path, retries=2)
    assert err.value.rule == "http_status" and api.hits[GDP_PATH] == 3


def test_a_4xx_is_not_retried(api, tmp_path) -> None:
    # No route: the server answers 404.
    with pytest.raises(SourceError, match="HTTP 404.*not retried") as err:
        fetch_gdp(api, tmp_path)
    assert err.value.rule == "http_status" and api.hits[GDP_PATH] == 1


def test_a_timeout_is_retried_then_fails(api, tmp_path) -> None:
    api.on(GDP_PATH, GDP_QUERY, Reply(fixture("NY.GDP.MKTP.CD.gtm.json"), delay=1.0))
    started = time.monotonic()
    with pytest.raises(SourceError, match="no answer in time") as err:
        fetch_gdp(api, tmp_path, timeout=0.2, retries=1)
    assert err.value.rule == "timeout" and api.hits[GDP_PATH] == 2
    assert time.monotonic() - started < 1.5


def test_fetch_backs_off_exponentially_and_prefers_retry_after(api) -> None:
    query = "&".join(f"{k}={v}" for k, v in GDP_QUERY.items())
    url = f"{api.base_url.removesuffix('/v2')}{GDP_PATH}?{query}"
    slept: list[float] = []
    api.on(GDP_PATH, GDP_QUERY, Reply(b"", status=500))
    with pytest.raises(SourceError):
        wbhttp.fetch(url, source="worldbank", retries=3, backoff=0.5, sleep=slept.append)
    assert slept == [0.5, 1.0, 2.0]

    slept.clear()
    api.on(GDP_PATH, GDP_QUERY, Reply(b"", status=503, headers={"Retry-After": "7"}),
           Reply(fixture("NY.GDP.MKTP.CD.gtm.json")))
    assert wbhttp.fetch(url, source="worldbank", backoff=0.5, sleep=slept.append) == fixture(
        "NY.GDP.MKTP.CD.gtm.json")
    assert slept == [7.0]


# ---------------------------------------------------------------------------------------------
# fetch_live: the whole catalog, one archived code does not fail the run
# ---------------------------------------------------------------------------------------------
# The API's answer for a code it no longer serves (API_FORMATS.md §1.2, wbstats issue #44).
NOT_FOUND = (b'[{"message":[{"id":"175","key":"Invalid format","value":"The indicator was not found. '
             b'It may have been deleted or archived."}]}]')
SE_IDS = [f"{c}.STD.ERR" for c in ("VA", "PV", "GE", "RQ", "RL", "CC")]


def _catalog_ids() -> list[str]:
    from flows.catalog import read_catalog
    from flows.config import Settings

    ind = read_catalog(Settings()).indicators
    return [i for i, s in zip(ind.column("indicator_id").to_pylist(), ind.column("source_id").to_pylist())
            if s == "worldbank"]


def route_catalog(api: FakeWorldBank, answers: dict[str, bytes]) -> list[str]:
    """Every catalogued World Bank series answered for the catalog's 9 economies; the query must ask
    WGI series (GOV_WGI_* and the legacy *.STD.ERR) of database 3, others of none (a wrong query
    gets the server's 404)."""
    ids = _catalog_ids()
    for indicator in ids:
        query = {"format": "json", "date": wb.DEFAULT_DATE, "per_page": "1000", "page": "1"}
        if indicator.startswith("GOV_WGI_") or indicator.endswith(".STD.ERR"):
            query["source"] = "3"
        body = answers.get(indicator, fixture("IC.BUS.EASE.XQ.gtm.no_data.json"))
        api.on(f"/v2/country/{';'.join(wb.DEFAULT_COUNTRIES)}/indicator/{indicator}", query, Reply(body))
    return ids


def test_std_err_series_are_asked_of_the_wgi_database() -> None:
    assert wb.api_database("VA.STD.ERR") == wb.api_database("GOV_WGI_RL.EST") == "3"
    assert wb.api_database("NY.GDP.MKTP.CD") is None and wb.api_database("EG.ELC.LOSS.ZS") is None


def test_fetch_live_skips_an_archived_code_with_a_warning_and_goes_on(api, tmp_path, con, caplog) -> None:
    from flows.config import Settings

    ids = route_catalog(api, {"GOV_WGI_RL.EST": fixture("GOV_WGI_RL.EST.gtm_hnd.json"),
                              **{i: NOT_FOUND for i in SE_IDS}})
    assert set(SE_IDS) <= set(ids) and len(ids) > len(SE_IDS)
    with caplog.at_level("WARNING", logger="flows.sources.worldbank"):
        paths = wb.fetch_live(Settings(), tmp_path, base_url=api.base_url, **FAST)

    fetched = [i for i in ids if i not in SE_IDS]
    assert [p.name for p in paths] == [f"{i}.p1.json" for i in fetched]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.p1.json" for i in fetched)
    for indicator in ids:  # each asked once: an API answer, not retried
        assert api.hits[f"/v2/country/{';'.join(wb.DEFAULT_COUNTRIES)}/indicator/{indicator}"] == 1
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == len(SE_IDS)
    for indicator, record in zip(SE_IDS, warned):
        assert indicator in record.getMessage() and "id 175" in record.getMessage()
    t = wb.parse_files(con, paths)  # what did arrive parses
    assert set(t.column("indicator_id").to_pylist()) == {"GOV_WGI_RL.EST"} and t.num_rows == 6


def test_fetch_live_still_fails_on_any_other_api_error(api, tmp_path) -> None:
    from flows.config import Settings

    route_catalog(api, {"VA.STD.ERR": NOT_FOUND, "NY.GDP.MKTP.CD": fixture("error_120.json")})
    with pytest.raises(SourceError) as err:
        wb.fetch_live(Settings(), tmp_path, base_url=api.base_url, **FAST)
    assert err.value.rule == "api_error" and "id 120" in str(err.value) and "NY.GDP.MKTP.CD" in err.value.url


def test_fetch_live_fails_when_no_series_is_found(api, tmp_path) -> None:
    from flows.config import Settings

    route_catalog(api, {i: NOT_FOUND for i in SE_IDS})
    with pytest.raises(SourceError, match="found none of the 6 series") as err:
        wb.fetch_live(Settings(), tmp_path, base_url=api.base_url, indicators=SE_IDS, **FAST)
    assert err.value.rule == "indicator_not_found"


def test_source_error_names_everything() -> None:
    e = SourceError("value is not a number", source="worldbank", rule="bad_row", file="X.p1.json", row=3)
    assert str(e) == "[worldbank] bad_row: value is not a number (file=X.p1.json, row=3)"
    assert (e.source, e.rule, e.file, e.row, e.url) == ("worldbank", "bad_row", "X.p1.json", 3, None)


# ---------------------------------------------------------------------------------------------
# parse_files on landed files
# ---------------------------------------------------------------------------------------------
def _rows_page(rows: list[dict], page: int = 1) -> bytes:
    meta = {"page": page, "pages": 1, "per_page": 1000, "total": len(rows), "sourceid": "2",
            "lastupdated": "2026-07-01"}
    return json.dumps([meta, rows]).encode()


def _row(value: object, iso3: str = "GTM") -> dict:
    return {"indicator": {"id": "NY.GDP.MKTP.CD", "value": "GDP (current US$)"},
            "country": {"id": "GT", "value": "Guatemala"}, "countryiso3code": iso3,
            "date": "2023", "value": value, "unit": "", "obs_status": "", "decimal": 0}


@pytest.mark.parametrize("body, rule, message", [
    (fixture("error_120.json"), "api_error", "id 120"),
    (fixture("html_error.html"), "not_json", "got HTML where JSON was expected"),
    (b'<?xml version="1.0"?><wb:data/>', "not_json", "got XML where JSON was expected"),
    (fixture("NY.GDP.MKTP.CD.gtm.json")[:-20], "not_json", "truncated"),
    (b'[{"pages":1},[]]', "bad_envelope", "no 'page'"),
    (b'[{"page":"one","pages":1},[]]', "bad_envelope", "not a whole number"),
    (b'[{"page":1,"pages":1},{"rows":1}]', "bad_envelope", "neither the rows array nor null"),
])
def test_parse_names_the_file_with_a_bad_envelope(tmp_path, con, body, rule, message) -> None:
    good = tmp_path / "NY.GDP.MKTP.CD.p1.json"
    good.write_bytes(fixture("NY.GDP.MKTP.CD.gtm.json"))
    bad = tmp_path / "NY.GDP.MKTP.CD.p2.json"
    bad.write_bytes(body)
    with pytest.raises(SourceError, match=message) as err:
        wb.parse_files(con, [good, bad])
    assert err.value.rule == rule and err.value.file == str(bad) and str(bad) in str(err.value)


def test_non_numeric_values_pass_through_with_their_text_for_the_validator(tmp_path, con) -> None:
    """A value that is not a number is not silently nulled: its text is kept, so the validator
    quarantines the row naming what the page said (rule value_is_number)."""
    path = tmp_path / "X.p1.json"
    path.write_bytes(_rows_page([_row(1.5), _row(None), _row("n/a"), _row(True)]))
    t = wb.parse_files(con, [path])
    assert t.column("value").to_pylist() == [1.5, None, None, None]
    assert t.column("value_text").to_pylist() == ["1.5", None, "n/a", "true"]
    assert t.column("source_row").to_pylist() == [1, 2, 3, 4]


def test_parse_names_a_file_that_is_not_json_inside(tmp_path, con) -> None:
    path = tmp_path / "X.p1.json"
    path.write_bytes(b'[{"page":1,"pages":1},[{"value": tru}]]')
    with pytest.raises(SourceError, match="not valid JSON") as err:
        wb.parse_files(con, [path])
    assert err.value.file == str(path)


def test_parse_edge_values(tmp_path, con) -> None:
    """Old answers quote numbers ("12.5", "decimal":"0"); an empty ISO3 code becomes null."""
    path = tmp_path / "X.p1.json"
    row = _row("12.5", iso3="")
    row["decimal"] = "0"
    path.write_bytes(_rows_page([row, _row(1e300)]))
    t = wb.parse_files(con, [path])
    assert t.column("value").to_pylist() == [12.5, 1e300]
    assert t.column("country_iso3").to_pylist() == [None, "GTM"]
    assert t.column("decimal").to_pylist() == [0, 0]


def test_parse_nothing_is_an_empty_table(con) -> None:
    t = wb.parse_files(con, [])
    assert t.num_rows == 0 and logical_schema(t.schema) == wb.OUTPUT_SCHEMA


def test_output_columns_exactly() -> None:
    assert [(f.name, f.type) for f in wb.OUTPUT_SCHEMA] == [
        ("indicator_id", pa.string()), ("indicator_name", pa.string()),
        ("country_iso3", pa.string()), ("country_wb_id", pa.string()),
        ("country_name", pa.string()), ("period", pa.string()), ("value", pa.float64()),
        ("value_text", pa.string()), ("unit", pa.string()), ("obs_status", pa.string()), ("decimal", pa.int32()),
        ("source_database", pa.string()), ("lastupdated", pa.date32()),
        ("source_file", pa.string()), ("source_row", pa.int64())]


# ---------------------------------------------------------------------------------------------
# The fixtures hold published figures, not invented ones
# ---------------------------------------------------------------------------------------------
def _published() -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {}
    for code, name in (("VC.IHR.PSRC.P5", "vc.ihr.psrc.p5.csv"), ("NY.GDP.MKTP.CD", "ny.gdp.mktp.cd.csv")):
        with (SHARED_DATA / "wdi_datahub" / name).open(newline="", encoding="utf-8") as fh:
            out[code] = {(r["Country Code"], r["Year"]): r["Value"] for r in csv.DictReader(fh)}
    (bulk,) = (SHARED_DATA / "wdi_bulk_csv").glob("API_*.csv")
    rows = list(csv.reader(bulk.open(newline="", encoding="utf-8-sig")))
    out["EG.ELC.LOSS.ZS"] = {(r[1], y): v for r in rows[5:] for y, v in zip(rows[4], r) if y.isdigit() and v}
    with next((SHARED_DATA / "wgi").glob("*.csv")).open(newline="", encoding="utf-8") as fh:
        out["GOV_WGI_RL.EST"] = {(r["code"], r["year"]): r["estimate"]
                                 for r in csv.DictReader(fh) if r["indicator"] == "rl"}
    return out


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_fixture_values_are_the_published_figures() -> None:
    published = _published()
    checked = 0
    for path in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(path.read_bytes(), parse_float=str, parse_int=str)
        if len(doc) != 2 or not doc[1]:
            continue
        for row in doc[1]:
            source = published[row["indicator"]["id"]]
            assert row["value"] == source.get((row["countryiso3code"], row["date"])), (path.name, row)
            checked += 1
    assert checked == 24
