"""Guatemala's AMM hourly exports, loaded as monthly sums computed in DuckDB."""
from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import duckdb
import pyarrow as pa
import pytest

from flows.config import Settings
from flows.sources import amm_exports as amm
from flows.sources.http import SourceError
from tests.fakeserver import Reply, serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "amm_exports"
SAMPLE = FIXTURES / "exportacion_sample.csv"
SNAPSHOT = ROOT / "data" / "snapshot" / "amm_exports"
SHARED = ROOT.parent / "shared" / "data" / "gt_amm_electricity" / "Clean_exportacion_2024.csv"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5.0}
HEADER_ONLY = SAMPLE.read_bytes().split(b"\n")[0] + b"\n"


def parse(*paths: Path) -> pa.Table:
    return amm.parse(duckdb.connect(), list(paths))


def month_sums(path: Path) -> dict[str, tuple[Decimal, int, int]]:
    """Independent of the parser: per month, -sum(Potencia), hours listed, positive hours."""
    out: dict[str, list] = defaultdict(lambda: [Decimal(0), 0, 0])
    with path.open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            m = f"{rec['Index'][:4]}M{rec['Index'][5:7]}"
            out[m][0] -= Decimal(rec["Potencia"])
            out[m][1] += 1
            out[m][2] += Decimal(rec["Potencia"]) > 0
    return {k: tuple(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def real() -> tuple[pa.Table, Path]:
    path = SHARED if SHARED.exists() else SNAPSHOT / "Clean_exportacion_2024.csv"
    return parse(path), path


# --- the monthly aggregate --------------------------------------------------------------------------
def test_monthly_values_are_the_sums_of_the_real_hours(real) -> None:
    t, path = real
    expected = month_sums(path)
    assert t.column("period").to_pylist() == [f"2024M{m:02d}" for m in range(1, 13)]
    for row in t.to_pylist():
        total, hours, _ = expected[row["period"]]
        assert row["value"] == float(total), row["period"]
        assert row["note"].startswith(f"hours with data: {hours} of ")
    jan = t.to_pylist()[0]
    assert (jan["value"], jan["unit"], jan["country_iso3"], jan["indicator_id"]) == (118876.04, "MWh", "GTM", "AMM.GTM.EXPORTS.MWH")
    assert (jan["period_type"], jan["year"], jan["source_row"]) == ("month", 2024, 2)


def test_months_with_missing_hours_are_lower_bounds(real) -> None:
    t, _ = real
    rows = {r["period"]: r for r in t.to_pylist()}
    assert rows["2024M01"]["note"].startswith("hours with data: 743 of 744;")
    assert rows["2024M02"]["note"].startswith("hours with data: 694 of 696;")  # 2024 is a leap year
    assert rows["2024M05"]["note"].startswith("hours with data: 252 of 744;")
    # no month of the 2024 scrape is complete, so every one is flagged
    assert {r["qualifier"] for r in rows.values()} == {"lower_bound"}


def test_positive_hours_are_summed_as_published_and_counted(real) -> None:
    t, path = real
    rows = {r["period"]: r for r in t.to_pylist()}
    expected = month_sums(path)
    assert expected["2024M05"][2] == 11
    assert "11 hour(s) with positive Potencia" in rows["2024M05"]["note"]
    assert "positive Potencia" not in rows["2024M01"]["note"]


def test_sample_months(real) -> None:
    jan, mar = parse(SAMPLE).to_pylist()
    assert (jan["period"], jan["value"], jan["qualifier"], jan["source_row"]) == ("2024M01", 356.3, "lower_bound", 2)
    assert jan["note"].startswith("hours with data: 6 of 744;")
    # 19 March: -123.02, -95.58, +15.44 (flow into Guatemala), -117.47
    assert (mar["period"], mar["value"], mar["source_row"]) == ("2024M03", 320.63, 8)
    assert "1 hour(s) with positive Potencia" in mar["note"] and "records 8-11" in mar["note"]


def test_snapshot_gives_the_same_months_as_the_real_file() -> None:
    snap = parse(SNAPSHOT / "Clean_exportacion_2024.csv")
    assert snap.num_rows == 12
    if SHARED.exists():
        assert snap.drop_columns(["source_file"]).equals(parse(SHARED).drop_columns(["source_file"]))
    with (SNAPSHOT / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["sha256"] == hashlib.sha256((SNAPSHOT / row["file"]).read_bytes()).hexdigest()
    assert row["origin"].endswith("@876959b2ee27085a863cbf67ab71fd1ab847a4b3")


def test_snapshot_build_is_reproducible(tmp_path) -> None:
    if not SHARED.exists():
        pytest.skip("shared/data not present")
    subprocess.run([sys.executable, str(ROOT / "tools" / "snapshot_amm_exports.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("Clean_exportacion_2024.csv", "manifest.csv"):
        assert (tmp_path / name).read_bytes() == (SNAPSHOT / name).read_bytes()


# --- bad input ----------------------------------------------------------------------------------
def test_html_page_is_refused() -> None:
    with pytest.raises(SourceError) as err:
        parse(FIXTURES / "html_error.csv")
    assert (err.value.rule, err.value.file) == ("not_csv", "html_error.csv")


def test_wrong_header_is_refused() -> None:
    with pytest.raises(SourceError) as err:
        parse(FIXTURES / "wrong_header.csv")
    assert (err.value.rule, err.value.row) == ("header", 1)


def test_an_hour_listed_twice_is_refused(tmp_path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = tmp_path / "dup.csv"
    bad.write_text("".join(lines[:4] + [lines[2]] + lines[4:]), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert (err.value.rule, err.value.row) == ("duplicate_hour", 5)


def test_another_technology_is_refused_not_summed(tmp_path) -> None:
    bad = tmp_path / "hydro.csv"
    bad.write_text(SAMPLE.read_text(encoding="utf-8").replace("Exportación", "Hidroeléctrica"), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert err.value.rule == "wrong_series"


def test_an_unreadable_hour_is_refused(tmp_path) -> None:
    bad = tmp_path / "ts.csv"
    bad.write_text(SAMPLE.read_text(encoding="utf-8").replace("2024-01-01 02:00:00", "01/01/2024 2h"), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        parse(bad)
    assert (err.value.rule, err.value.row) == ("bad_timestamp", 4)


# --- live fetch ---------------------------------------------------------------------------------
def route_year(fake, year: int, q1: list[Reply]) -> None:
    for q in (1, 2, 3, 4):
        url = urlsplit(amm.quarter_url(year, q, fake.origin))
        replies = q1 if q == 1 else [Reply(HEADER_ONLY, content_type="text/csv")]
        fake.on(url.path, dict(parse_qsl(url.query)), *replies)


def test_fetch_retries_a_503_then_lands_every_quarter(tmp_path) -> None:
    with serving() as fake:
        route_year(fake, 2024, [Reply(b"busy", status=503, content_type="text/plain"),
                                Reply(SAMPLE.read_bytes(), content_type="text/csv")])
        paths = amm.fetch_live(Settings(), tmp_path, year=2024, base_url=fake.origin, **FAST)
        assert fake.hits[amm.EXPORT_PATH] == 5  # Q1 twice, then Q2-Q4
    assert [p.name for p in paths] == [f"amm_exportacion_2024Q{q}.csv" for q in (1, 2, 3, 4)]
    assert paths[0].read_bytes() == SAMPLE.read_bytes()
    assert parse(*paths).column("value").to_pylist() == [356.3, 320.63]


def test_fetch_refuses_an_html_page_and_lands_nothing(tmp_path) -> None:
    with serving() as fake:
        route_year(fake, 2024, [Reply((FIXTURES / "html_error.csv").read_bytes(), content_type="text/html")])
        with pytest.raises(SourceError) as err:
            amm.fetch_live(Settings(), tmp_path, year=2024, base_url=fake.origin, **FAST)
    assert err.value.rule == "not_csv" and fake.origin in err.value.url
    assert not list(tmp_path.iterdir())


def test_quarter_addresses_cover_the_year() -> None:
    q = [dict(parse_qsl(urlsplit(amm.quarter_url(2024, n)).query)) for n in (1, 2, 3, 4)]
    assert [(x["FECHA_INICIAL"], x["FECHA_FINAL"]) for x in q] == [
        ("01/01/2024", "03/31/2024"), ("04/01/2024", "06/30/2024"), ("07/01/2024", "09/30/2024"), ("10/01/2024", "12/31/2024")]
    assert amm.quarter_url(2024, 1).startswith("https://reportesbi.amm.org.gt/knowage/")


# --- through the pipeline's validation ------------------------------------------------------------
def test_validation_loads_every_month_flagged(ciw_home) -> None:
    from flows import steps
    from flows.catalog import read_catalog

    s = Settings()
    v = steps.validate_source_batch(s, amm.SOURCE, steps.extract(s, amm.SOURCE, live=False, run_id="t"), read_catalog(s))
    assert v.rejected is None and v.quarantine.num_rows == 0
    good = v.good.to_pylist()
    assert len(good) == 12 and {r["qualifier"] for r in good} == {"lower_bound"}
