"""OWID grapher connector: the parser on the real layouts (full and filtered exports), the bundled
snapshot against the published files, bad files refused with source/file/row/rule, and fetch_live
against a real local HTTP server."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from flows.sources import owid
from flows.sources.http import SourceError
from tests.fakeserver import Reply, serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "owid"
SNAPSHOT = ROOT / "data" / "snapshot" / "owid"
SHARED = ROOT.parent / "shared" / "data" / "owid_grapher"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
HOMICIDE_HEADER = ('Entity,Code,Year,"Homicide rate per 100,000 population - sex: Total - age: Total",'
                   "World regions according to OWID,time,time")


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def rows(table) -> list[dict]:
    return table.to_pylist()


def by_key(table) -> dict[tuple[str, str, str], dict]:
    return {(r["indicator_id"], r["country_iso3"], r["period"]): r for r in rows(table)}


def pair(tmp_path: Path, name: str, csv_text: str | None = None, meta: dict | str | None = None) -> Path:
    """A copy of a fixture pair under tmp_path, optionally with its CSV text or metadata replaced."""
    stem = name.removesuffix(".csv")
    src_csv, src_meta = FIXTURES / f"{stem}.csv", FIXTURES / f"{stem}.metadata.json"
    out = tmp_path / f"{stem}.csv"
    out.write_text(csv_text if csv_text is not None else src_csv.read_text(encoding="utf-8"), encoding="utf-8")
    if isinstance(meta, dict):
        (tmp_path / src_meta.name).write_text(json.dumps(meta), encoding="utf-8")
    elif isinstance(meta, str):
        (tmp_path / src_meta.name).write_text(meta, encoding="utf-8")
    else:
        shutil.copy(src_meta, tmp_path / src_meta.name)
    return out


def fixture_meta(stem: str) -> dict:
    return json.loads((FIXTURES / f"{stem}.metadata.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# The filtered export's odd header
# ---------------------------------------------------------------------------------------------
def test_filtered_export_year_from_last_time_column_and_country_by_name(con) -> None:
    assert (FIXTURES / "homicide-rate-unodc.csv").read_text().splitlines()[0] == HOMICIDE_HEADER
    t = owid.parse(con, [FIXTURES / "homicide-rate-unodc.csv"])
    got = [(r["country_iso3"], r["period"], r["value"], r["source_row"]) for r in rows(t)]
    # Code and Year are empty: ISO3 from the name, year from the second `time` column
    assert got == [("SLV", "2022", 7.897688, 2), ("GTM", "2023", 23.365726, 3), ("HND", "2023", 31.442432, 4)]
    r = rows(t)[0]
    assert r["indicator_id"] == "OWID.HOMICIDE_RATE" and (r["sex"], r["breakdown"]) == ("total", "total")
    assert r["indicator_name"] == "Homicide rate per 100,000 population - sex: Total - age: Total"
    assert r["unit"] == "homicides per 100,000 population" and str(r["lastupdated"]) == "2025-05-28"
    assert "1035032" in r["note"] and "latest year per country" in r["note"]
    assert r["source_url"].startswith("https://ourworldindata.org/grapher/homicide-rate-unodc?")
    assert r["citation"].startswith("UN, World Population Prospects (2024); United Nations Office on Drugs and Crime")


def test_the_region_column_is_not_read(con) -> None:
    t = owid.parse(con, [FIXTURES / "homicide-rate-unodc.csv"])
    assert {r["indicator_name"] for r in rows(t)} == {"Homicide rate per 100,000 population - sex: Total - age: Total"}


def test_disagreeing_year_cells_leave_the_period_null_for_the_validator(tmp_path, con) -> None:
    text = HOMICIDE_HEADER + "\nGuatemala,,,23.365726,,2022,2023\n"
    t = owid.parse(con, [pair(tmp_path, "homicide-rate-unodc", text)])
    (r,) = rows(t)
    assert r["period"] is None and r["value"] == 23.365726 and "year ambiguous: 2022 vs 2023" in r["note"]


def test_entities_outside_the_catalog_are_skipped(tmp_path, con) -> None:
    # damaged copy: an OWID aggregate code and an unknown name take a real row's figure
    text = ("Entity,Code,Year,Trade (% of GDP)\nGuatemala,GTM,2017,46.06942\nWorld,OWID_WRL,2017,46.06942\n"
            "Guatemala (region),,2017,46.06942\nHonduras,,2017,101.81311\n")
    t = owid.parse(con, [pair(tmp_path, "trade-as-share-of-gdp", text)])
    assert [(r["country_iso3"], r["source_row"]) for r in rows(t)] == [("GTM", 2), ("HND", 5)]


@pytest.mark.parametrize("title, expected", [
    ("Homicide rate per 100,000 population - sex: Total - age: Total",
     ("Homicide rate per 100,000 population", "total", "total")),
    ("Homicide rate per 100,000 population - sex: Female - age: 15-29",
     ("Homicide rate per 100,000 population", "female", "age=15-29")),
    ("Carbon intensity of electricity - gCO2/kWh", ("Carbon intensity of electricity - gCO2/kWh", "total", "total")),
    ("Gross domestic product, constant prices - Percent change - Observations",
     ("Gross domestic product, constant prices - Percent change - Observations", "total", "total")),
])
def test_breakdowns_in_the_title(title, expected) -> None:
    assert owid.split_title(title) == expected


# ---------------------------------------------------------------------------------------------
# Full export, forecasts, values
# ---------------------------------------------------------------------------------------------
def test_full_export_rows_and_metadata(con) -> None:
    t = owid.parse(con, [FIXTURES / "trade-as-share-of-gdp.csv"])
    got = {(k[1], k[2]): r["value"] for k, r in by_key(t).items()}
    assert got == {("SLV", "2016"): 72.81909, ("SLV", "2017"): 74.30465, ("GTM", "2016"): 46.372738,
                   ("GTM", "2017"): 46.06942, ("HND", "2016"): 99.81572, ("HND", "2017"): 101.81311}
    r = by_key(t)[("OWID.TRADE_GDP", "GTM", "2017")]
    assert (r["value_text"], r["unit"], str(r["lastupdated"]), r["source_row"]) == ("46.06942", "% of GDP", "2025-01-24", 5)
    assert r["citation"] == "World Bank and OECD national accounts (2025) – processed by Our World in Data"
    assert r["note"] == "OWID variable 1008278 (ne_trd_gnfs_zs)"
    assert r["source_url"] == "https://ourworldindata.org/grapher/trade-as-share-of-gdp"
    assert r["source_file"] == "trade-as-share-of-gdp.csv"


def test_forecasts_are_not_observations(con) -> None:
    t = owid.parse(con, [FIXTURES / "real-gdp-growth.csv"])
    got = [(r["indicator_id"], r["period"], r["value"]) for r in rows(t)]
    # 2023 appears in both columns (the forecast line starts at the last observation); 2024-2025 are projections
    assert got == [("OWID.GDP_GROWTH_IMF", "2022", 4.2), ("OWID.GDP_GROWTH_IMF", "2023", 3.527)]


def test_non_numeric_cell_kept_as_text_and_empty_cell_skipped(tmp_path, con) -> None:
    text = "Entity,Code,Year,Trade (% of GDP)\nGuatemala,GTM,2016,n/a\nGuatemala,GTM,2017,\nHonduras,HND,2017,101.81311\n"
    t = owid.parse(con, [pair(tmp_path, "trade-as-share-of-gdp", text)])
    assert [(r["period"], r["value"], r["value_text"]) for r in rows(t)] == [("2016", None, "n/a"), ("2017", 101.81311, "101.81311")]


def test_a_column_missing_from_the_catalog_keeps_its_title_and_no_id(tmp_path, con) -> None:
    meta = fixture_meta("trade-as-share-of-gdp")
    meta["columns"] = {"Trade (% of GDP, new)": meta["columns"]["Trade (% of GDP)"]}
    text = "Entity,Code,Year,\"Trade (% of GDP, new)\"\nGuatemala,GTM,2017,46.06942\n"
    (r,) = rows(owid.parse(con, [pair(tmp_path, "trade-as-share-of-gdp", text, meta)]))
    assert r["indicator_id"] is None and r["indicator_name"] == "Trade (% of GDP, new)"  # quarantined: indicator_id_present


def test_metadata_listed_with_the_csv_is_used(tmp_path, con) -> None:
    elsewhere = tmp_path / "meta"
    elsewhere.mkdir()
    shutil.copy(FIXTURES / "trade-as-share-of-gdp.metadata.json", elsewhere)
    data = tmp_path / "trade-as-share-of-gdp.csv"
    shutil.copy(FIXTURES / "trade-as-share-of-gdp.csv", data)
    t = owid.parse(con, [data, elsewhere / "trade-as-share-of-gdp.metadata.json"])
    assert t.num_rows == 6


# ---------------------------------------------------------------------------------------------
# Files refused, naming source, file, row and rule
# ---------------------------------------------------------------------------------------------
def refused(con, path: Path, rule: str, row: int | None = None) -> SourceError:
    with pytest.raises(SourceError) as info:
        owid.parse(con, [path])
    err = info.value
    assert (err.source, err.rule) == ("owid", rule), err
    assert err.file and Path(err.file).name == path.name, err
    if row is not None:
        assert err.row == row, err
    return err


def test_html_page_instead_of_csv(tmp_path, con) -> None:
    refused(con, pair(tmp_path, "trade-as-share-of-gdp", (FIXTURES / "html_error.html").read_text()), "not_csv")


def test_empty_file(tmp_path, con) -> None:
    refused(con, pair(tmp_path, "trade-as-share-of-gdp", ""), "empty_file")


def test_truncated_file_names_the_cut_line(tmp_path, con) -> None:
    text = (FIXTURES / "trade-as-share-of-gdp.csv").read_text()
    refused(con, pair(tmp_path, "trade-as-share-of-gdp", text[:-12]), "truncated", row=7)


def test_short_column_names_do_not_match_the_metadata(tmp_path, con) -> None:
    # what useColumnShortNames=true returns: the metadata is keyed by long titles
    text = (FIXTURES / "trade-as-share-of-gdp.csv").read_text().replace("Trade (% of GDP)", "ne_trd_gnfs_zs")
    err = refused(con, pair(tmp_path, "trade-as-share-of-gdp", text), "header", row=1)
    assert "ne_trd_gnfs_zs" in err.message


@pytest.mark.parametrize("header", ["Country,Code,Year,Trade (% of GDP)", "Entity,Code,Day,Trade (% of GDP)"])
def test_wrong_leading_columns(tmp_path, con, header) -> None:
    text = header + "\nGuatemala,GTM,2017,46.06942\n"
    refused(con, pair(tmp_path, "trade-as-share-of-gdp", text), "header", row=1)


def test_row_with_an_extra_field(tmp_path, con) -> None:
    text = "Entity,Code,Year,Trade (% of GDP)\nGuatemala,GTM,2016,46.372738\nGuatemala,GTM,2017,46,06942\n"
    refused(con, pair(tmp_path, "trade-as-share-of-gdp", text), "malformed_csv", row=3)


def test_not_utf8(tmp_path, con) -> None:
    path = pair(tmp_path, "trade-as-share-of-gdp")
    path.write_bytes(b"Entity,Code,Year,Trade (% of GDP)\nBel\xedze,BLZ,2017,46.06942\n")
    refused(con, path, "encoding", row=2)


def test_missing_metadata(tmp_path, con) -> None:
    path = tmp_path / "trade-as-share-of-gdp.csv"
    shutil.copy(FIXTURES / path.name, path)
    refused(con, path, "metadata_missing")


def test_metadata_that_is_not_json(tmp_path, con) -> None:
    with pytest.raises(SourceError) as info:
        owid.parse(con, [pair(tmp_path, "trade-as-share-of-gdp", meta="<html>gateway timeout</html>")])
    assert info.value.rule == "not_json" and info.value.file.endswith("trade-as-share-of-gdp.metadata.json")


def test_only_forecasts_is_no_series(tmp_path, con) -> None:
    text = ('Entity,Code,Year,"Gross domestic product, constant prices - Percent change - Forecasts"\n'
            "Guatemala,GTM,2024,3.689\n")
    refused(con, pair(tmp_path, "real-gdp-growth", text), "header", row=1)


# ---------------------------------------------------------------------------------------------
# The bundled snapshot against the published files
# ---------------------------------------------------------------------------------------------
def snapshot_table(con):
    from flows.sources.observations import manifest_files

    return owid.parse(con, manifest_files(SNAPSHOT))


def published() -> dict[tuple[str, str, str], str]:
    """Every published observation from 2000 on, for the catalog's titles, as its exact string."""
    ids = owid.catalog_ids()
    names = owid.country_names()
    out = {}
    for path in SHARED.glob("*.csv"):
        if not path.with_name(path.name[:-4] + ".metadata.json").exists():
            continue  # the energy codebook
        table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        header = table[0]
        for row in table[1:]:
            iso3 = row[1] or names[row[0]]
            year = row[2] or row[-1]
            for title, cell in zip(header[3:], row[3:]):
                base = owid.split_title(title)[0]
                if base in ids and cell and int(year) >= 2000:
                    out[(ids[base], iso3, year)] = cell
    return out


@needs_shared
def test_snapshot_values_are_the_published_strings(con) -> None:
    t = snapshot_table(con)
    got = {k: r["value_text"] for k, r in by_key(t).items()}
    assert got == published()
    assert all(float(r["value_text"]) == r["value"] for r in rows(t))
    counts = {}
    for r in rows(t):
        counts[r["indicator_id"]] = counts.get(r["indicator_id"], 0) + 1
    assert counts == {"OWID.CO2_INTENSITY_ELEC": 220, "OWID.HOMICIDE_RATE": 9, "OWID.ENERGY_PC_KWH": 218,
                      "OWID.GDP_GROWTH_IMF": 220, "OWID.TRADE_GDP": 216}  # GDP: 5 x 2000-2023 + 4 x 2000-2024


def test_snapshot_figures_by_hand(con) -> None:
    got = {k: r["value"] for k, r in by_key(snapshot_table(con)).items()}
    assert got[("OWID.TRADE_GDP", "GTM", "2017")] == 46.06942
    assert got[("OWID.TRADE_GDP", "HND", "2023")] == 97.953476
    assert got[("OWID.CO2_INTENSITY_ELEC", "CRI", "2017")] == 28.368793
    assert got[("OWID.ENERGY_PC_KWH", "GTM", "2023")] == 5010.2554
    assert got[("OWID.HOMICIDE_RATE", "SLV", "2022")] == 7.897688
    assert got[("OWID.HOMICIDE_RATE", "NIC", "2021")] == 11.34732
    assert got[("OWID.GDP_GROWTH_IMF", "GTM", "2023")] == 3.527
    assert ("OWID.GDP_GROWTH_IMF", "GTM", "2024") not in got  # forecast only
    assert got[("OWID.GDP_GROWTH_IMF", "CRI", "2024")] is not None  # CRI's observations reach 2024


def test_every_catalog_indicator_has_snapshot_rows_and_links_point_into_the_catalog(con) -> None:
    ids = set(owid.catalog_ids().values())
    assert ids == {r["indicator_id"] for r in rows(snapshot_table(con))}
    with (ROOT / "data" / "catalog" / "links" / "owid.csv").open(newline="", encoding="utf-8") as fh:
        links = list(csv.DictReader(fh))
    assert links and {r["indicator_id"] for r in links} <= ids


def test_catalog_and_link_headers() -> None:
    assert (ROOT / "data/catalog/indicators/owid.csv").read_text().splitlines()[0] == (
        "indicator_id,name,unit,source_id,publisher,licence,direction,valid_min,valid_max,flat_band,"
        "flat_band_kind,theme,notes")
    assert (ROOT / "data/catalog/links/owid.csv").read_text().splitlines()[0] == (
        "commitment_id,key_phrase,indicator_id,relation,base_year,rationale")


def test_manifest_lists_every_file_with_its_hash() -> None:
    text = (SNAPSHOT / "manifest.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "file,publisher,address,licence,retrieved_at,sha256,origin,note"
    manifest = list(csv.DictReader(io.StringIO(text)))
    assert sorted(m["file"] for m in manifest) == sorted(p.name for p in SNAPSHOT.iterdir()
                                                        if p.name not in ("manifest.csv", "README.md"))
    for m in manifest:
        assert hashlib.sha256((SNAPSHOT / m["file"]).read_bytes()).hexdigest() == m["sha256"], m["file"]
    assert sum(p.stat().st_size for p in SNAPSHOT.iterdir()) < 2**20


@needs_shared
def test_snapshot_rebuild_is_identical_and_not_a_copy(tmp_path) -> None:
    from tools.snapshot_owid import build

    build(SHARED.parent, tmp_path)
    for p in SNAPSHOT.iterdir():
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name
        original = SHARED / p.name
        assert not original.exists() or original.read_bytes() != p.read_bytes(), p.name


def test_snapshot_keeps_the_publisher_quirks() -> None:
    homicide = (SNAPSHOT / "homicide-rate-unodc.filtered-latest.csv").read_text(encoding="utf-8")
    assert homicide.splitlines()[0] == HOMICIDE_HEADER and ",,," in homicide.splitlines()[1]
    gdp = (SNAPSHOT / "real-gdp-growth.csv").read_text(encoding="utf-8").splitlines()[0]
    assert gdp.endswith('"Gross domestic product, constant prices - Percent change - Forecasts"')


def test_source_suite_uses_known_rule_types() -> None:
    from flows.validate import suite_for

    ids = [r.meta["rule_id"] for r in suite_for("fact_observation", "owid").rules]
    assert {"owid_period_is_year", "owid_period_not_after_update", "owid_citation_present"} <= set(ids)


def test_registered() -> None:
    from flows.registry import source

    assert source("owid").parse is owid.parse and source("owid").snapshot == "owid"


# ---------------------------------------------------------------------------------------------
# fetch_live against a real local server
# ---------------------------------------------------------------------------------------------
QUERY = {"v": "1", "csvType": "full", "useColumnShortNames": "false"}
CHARTS = ("trade-as-share-of-gdp", "homicide-rate-unodc")


def serve_charts(fake, *first: Reply) -> None:
    for i, slug in enumerate(CHARTS):
        csv_body = (FIXTURES / f"{slug}.csv").read_bytes()
        replies = [*first, Reply(csv_body, content_type="text/csv")] if i == 0 else [Reply(csv_body, content_type="text/csv")]
        fake.on(f"/grapher/{slug}.csv", QUERY, *replies)
        fake.on(f"/grapher/{slug}.metadata.json", QUERY, Reply((FIXTURES / f"{slug}.metadata.json").read_bytes()))


def test_fetch_live_lands_pairs_that_parse(tmp_path, con) -> None:
    from flows.config import Settings

    with serving() as fake:
        serve_charts(fake)
        paths = owid.fetch_live(Settings(), tmp_path, base_url=f"{fake.origin}/grapher", charts=CHARTS,
                                retries=0, backoff=0.01)
    assert sorted(p.name for p in paths) == sorted([
        "trade-as-share-of-gdp.csv", "trade-as-share-of-gdp.metadata.json",
        "homicide-rate-unodc.csv", "homicide-rate-unodc.metadata.json"])
    assert (tmp_path / "trade-as-share-of-gdp.csv").read_bytes() == (FIXTURES / "trade-as-share-of-gdp.csv").read_bytes()
    t = owid.parse(con, paths)
    assert {r["indicator_id"] for r in rows(t)} == {"OWID.TRADE_GDP", "OWID.HOMICIDE_RATE"} and t.num_rows == 9


def test_fetch_live_retries_a_503(tmp_path) -> None:
    from flows.config import Settings

    with serving() as fake:
        serve_charts(fake, Reply(b"busy", status=503, content_type="text/plain"))
        owid.fetch_live(Settings(), tmp_path, base_url=f"{fake.origin}/grapher", charts=CHARTS, retries=2, backoff=0.01)
        assert fake.hits["/grapher/trade-as-share-of-gdp.csv"] == 2
        assert fake.hits["/grapher/homicide-rate-unodc.csv"] == 1


def test_fetch_live_refuses_an_html_page_and_writes_nothing(tmp_path) -> None:
    from flows.config import Settings

    with serving() as fake:
        serve_charts(fake)
        fake.on("/grapher/homicide-rate-unodc.csv", QUERY,
                Reply((FIXTURES / "html_error.html").read_bytes(), content_type="text/html"))
        with pytest.raises(SourceError) as info:
            owid.fetch_live(Settings(), tmp_path, base_url=f"{fake.origin}/grapher", charts=CHARTS, retries=0)
    assert info.value.rule == "not_csv" and "homicide-rate-unodc.csv" in info.value.url and "HTML" in info.value.message
    assert list(tmp_path.iterdir()) == []


def test_fetch_live_refuses_metadata_that_is_not_json(tmp_path) -> None:
    from flows.config import Settings

    with serving() as fake:
        serve_charts(fake)
        fake.on("/grapher/trade-as-share-of-gdp.metadata.json", QUERY, Reply(b"<html>oops</html>", content_type="text/html"))
        with pytest.raises(SourceError) as info:
            owid.fetch_live(Settings(), tmp_path, base_url=f"{fake.origin}/grapher", charts=CHARTS, retries=0)
    assert info.value.rule == "not_json"


def test_fetch_live_gives_up_after_the_retries(tmp_path) -> None:
    from flows.config import Settings

    with serving() as fake:
        serve_charts(fake)
        fake.on("/grapher/trade-as-share-of-gdp.csv", QUERY, Reply(b"down", status=500, content_type="text/plain"))
        with pytest.raises(SourceError) as info:
            owid.fetch_live(Settings(), tmp_path, base_url=f"{fake.origin}/grapher", charts=CHARTS, retries=1, backoff=0.01)
        assert fake.hits["/grapher/trade-as-share-of-gdp.csv"] == 2
    assert info.value.rule == "http_status"
