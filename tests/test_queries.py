"""Saved queries (`ciw query`) and the data dictionary (`ciw docs`) against a published warehouse."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows import dictionary, queries, warehouse
from flows.cli import main

SAVED = queries.discover()


@pytest.fixture
def use(published, monkeypatch):
    monkeypatch.setenv("CIW_HOME", str(published))
    return published


def _counts(home: Path) -> dict[str, int]:
    con = duckdb.connect(str(home / "ciw.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()]
        return {n: con.sql(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}
    finally:
        con.close()


def _write_query(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.sql"
    path.write_text(text, encoding="utf-8")
    return path


# --- the saved queries themselves -----------------------------------------------------------------
def test_there_are_saved_queries_with_titles_and_descriptions():
    assert 5 <= len(SAVED) <= 12, sorted(SAVED)
    for q in SAVED.values():
        assert q.title and q.description, q.name
        assert all(p.help for p in q.params), q.name


@pytest.mark.parametrize("name", sorted(SAVED))
def test_every_saved_query_returns_rows(use, name):
    q = SAVED[name]
    if not any(p.required for p in q.params):
        assert queries.run(name).num_rows > 0, f"{name} with its defaults returned no rows"
    result = queries.run(name, q.example_params)
    assert result.num_rows > 0, f"{name} with its example {q.example} returned no rows"


def test_filters_are_applied(use):
    everything = queries.run("commitment_progress")
    themed = queries.run("commitment_progress", {"theme": "violence_youth", "country": "GTM,HND"})
    assert 0 < themed.num_rows < everything.num_rows
    assert set(themed["theme"].to_pylist()) == {"violence_youth"}
    assert set(themed["country_iso3"].to_pylist()) == {"GTM", "HND"}
    # a list given by repeating the flag is the same list
    repeated = queries.run("commitment_progress", queries.parse_param_args(
        ["theme=violence_youth", "country=GTM", "country=HND"]))
    assert repeated.num_rows == themed.num_rows


def test_border_encounters_keep_ohss_and_cbp_apart(use):
    rows = queries.run("border_encounters_by_fiscal_year", {"citizenship": "GTM", "from_fy": "2022"}).to_pylist()
    by_year = {r["fiscal_year"]: r for r in rows}
    fy23 = by_year[2023]
    assert fy23["ohss_usbp_all_borders"] and fy23["cbp_southwest_border_usbp_and_ofo"]
    assert fy23["ohss_usbp_all_borders"] != fy23["cbp_southwest_border_usbp_and_ofo"]
    assert not any(r["ohss_period"] and r["ohss_period"].endswith("YTD") for r in rows)  # include_ytd defaults to false
    with_ytd = queries.run("border_encounters_by_fiscal_year", {"citizenship": "GTM", "from_fy": "2022", "include_ytd": "yes"})
    assert with_ytd.num_rows == len(rows) + 1


# --- parameters are bound, never pasted -----------------------------------------------------------
def test_a_quote_in_a_value_is_data(use):
    rows = queries.run("source_provenance", {"indicator": "country's share"}).to_pylist()
    assert rows, "the indicator names with \"country's share\" should match literally"
    assert all("country's share" in r["indicator_name"].lower() for r in rows)


@pytest.mark.parametrize("value", ["'; DROP TABLE dim_country; --", "x' OR '1'='1", "GTM'); DELETE FROM fact_observation; --"])
def test_injection_attempts_are_only_data(use, value):
    before = _counts(use)
    assert queries.run("source_provenance", {"indicator": value}).num_rows == 0
    assert queries.run("commitment_progress", {"theme": value}).num_rows == 0
    assert queries.run("homicide_rates", {"country": value}).num_rows == 0
    assert _counts(use) == before
    assert before["dim_country"] > 0 and before["fact_observation"] > 0


def test_the_sql_text_reaches_duckdb_unchanged(use, monkeypatch):
    seen = []
    real = warehouse.query

    def spy(sql, params=None, path=None):
        seen.append((sql, params))
        return real(sql, params, path)

    monkeypatch.setattr(warehouse, "query", spy)
    value = "O'Brien; --"
    queries.run("source_provenance", {"indicator": value})
    (sql, params), = seen
    assert sql == SAVED["source_provenance"].path.read_text(encoding="utf-8")
    assert value not in sql and params["indicator"] == value


def test_values_are_cast_to_the_declared_types(use, tmp_path):
    _write_query(tmp_path, "types", """-- title: types
-- description: every type
-- param: i INTEGER default 3 | an integer
-- param: d DOUBLE default 1.5 | a double
-- param: v VARCHAR default 'a b' | a string with a space
-- param: day DATE default 2017-06-16 | a date
-- param: b BOOLEAN default false | a flag
-- param: l VARCHAR[] default GTM,HND | a list
-- param: n INTEGER[] default null | a nullable list
--
SELECT typeof($i) AS ti, $i AS i, typeof($d) AS td, $d AS d, $v AS v, typeof($day) AS tday, $day AS day,
       typeof($b) AS tb, $b AS b, typeof($l) AS tl, $l AS l, $n IS NULL AS n_is_null
""")
    (row,) = queries.run("types", directory=tmp_path).to_pylist()
    assert row == {"ti": "INTEGER", "i": 3, "td": "DOUBLE", "d": 1.5, "v": "a b", "tday": "DATE", "day": dt.date(2017, 6, 16),
                   "tb": "BOOLEAN", "b": False, "tl": "VARCHAR[]", "l": ["GTM", "HND"], "n_is_null": True}
    (row,) = queries.run("types", {"i": "-7", "d": "2e3", "day": "2024-02-29", "b": "YES", "l": " SLV , MEX ", "n": "1,2"},
                         directory=tmp_path).to_pylist()
    assert (row["i"], row["d"], row["day"], row["b"], row["l"], row["n_is_null"]) == (-7, 2000.0, dt.date(2024, 2, 29), True, ["SLV", "MEX"], False)


@pytest.mark.parametrize("params, message", [
    ({"i": "1.5"}, "'i' .* INTEGER"),
    ({"i": "99999999999"}, "out of range"),
    ({"d": "abc"}, "'d' .* DOUBLE"),
    ({"d": "nan"}, "finite"),
    ({"day": "2023-02-29"}, "'day' .* DATE"),
    ({"day": "16/06/2017"}, "YYYY-MM-DD"),
    ({"b": "maybe"}, "'b' .* BOOLEAN"),
    ({"i": "null"}, "'i' .* cannot be null"),
    ({"i": ["1", "2"]}, "takes one INTEGER value"),
    ({"nope": "1"}, "unknown parameter 'nope'"),
])
def test_bad_values_are_clear_errors(tmp_path, params, message):
    _write_query(tmp_path, "types", """-- title: t
-- description: d
-- param: i INTEGER default 3 | i
-- param: d DOUBLE default 1.5 | d
-- param: day DATE default 2017-06-16 | day
-- param: b BOOLEAN default false | b
--
SELECT $i, $d, $day, $b
""")
    with pytest.raises(queries.QueryError, match=message):
        queries.get("types", tmp_path).bind(params)


def test_unknown_and_missing_parameters_are_errors(use, capsys):
    with pytest.raises(queries.QueryError, match="unknown parameter 'colour'.*it takes: indicator"):
        queries.run("indicator_series", {"indicator": "VC.IHR.PSRC.P5", "colour": "red"})
    with pytest.raises(queries.QueryError, match="needs parameter 'indicator'"):
        queries.run("indicator_series", {"country": "GTM"})
    assert main(["query", "indicator_series"]) == 2
    assert "needs parameter 'indicator'" in capsys.readouterr().err
    assert main(["query", "homicide_rates", "--param", "colour=red"]) == 2
    assert "unknown parameter 'colour'" in capsys.readouterr().err
    assert main(["query", "homicide_rates", "--param", "from_year"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main(["query", "no_such_query"]) == 2
    assert "no saved query 'no_such_query'" in capsys.readouterr().err


@pytest.mark.parametrize("header, message", [
    ("-- title: t\n-- description: d\n--\nSELECT $x", r"uses \$x but the header does not declare it"),
    ("-- title: t\n-- description: d\n-- param: x INTEGER default 1 | x\n--\nSELECT 1", "declares x but the SQL never uses it"),
    ("-- title: t\n-- description: d\n-- parm: x INTEGER default 1\n--\nSELECT $x", "line 3: expected"),
    ("-- title: t\n--\nSELECT 1", "needs both"),
    ("-- title: t\n-- description: d\n-- param: x MONEY default 1 | x\n--\nSELECT $x", "type MONEY"),
    ("-- title: t\n-- description: d\n-- param: x INTEGER default one | x\n--\nSELECT $x", "bad default"),
    ("-- title: t\n-- description: d\n-- param: x INTEGER required | x\n--\nSELECT $x", "gives an example"),
    ("-- title: t\n-- description: d\n-- param: x INTEGER required | x\n-- example: y=1\n--\nSELECT $x", "bad example"),
    ("-- title: t\n-- description: d\n-- param: x INTEGER default 1 | x\n-- param: x INTEGER default 2 | x\n--\nSELECT $x", "declared twice"),
    ("-- title: t\n-- description: d\n--\nSELECT ?", "named parameters"),
    ("-- title: t\n-- description: d\n--\nDELETE FROM dim_country", "read-only"),
    ("-- title: t\n-- description: d\n--\nSELECT 1; SELECT 2", "exactly one statement"),
    ("SELECT 1", "starts with a comment header"),
])
def test_badly_declared_queries_are_refused_when_read(tmp_path, header, message):
    path = _write_query(tmp_path, "bad", header + "\n")
    with pytest.raises(queries.QueryError, match=message):
        queries.parse(path)


def test_a_dollar_inside_a_string_or_comment_is_not_a_parameter(tmp_path):
    q = queries.parse(_write_query(tmp_path, "ok", "-- title: t\n-- description: d\n--\n-- costs $5\nSELECT 'US$ $x' AS s\n"))
    assert q.params == ()


# --- formats --------------------------------------------------------------------------------------
def _run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["query", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("name", ["border_encounters_by_fiscal_year", "source_provenance"])
def test_each_format_parses_back_with_the_same_rows(use, tmp_path, capsys, name):
    q = SAVED[name]
    args = [a for k, v in q.example for a in ("--param", f"{k}={v}")]
    expected = queries.run(name, q.example_params)
    assert expected.num_rows > 0

    rc, out, _ = _run_cli(capsys, name, *args)
    assert rc == 0 and f"({expected.num_rows} row" in out

    rc, out, _ = _run_cli(capsys, name, *args, "--format", "csv", "--output", str(tmp_path / "r.csv"))
    assert rc == 0 and out == ""
    n = duckdb.sql(f"SELECT count(*) FROM read_csv('{tmp_path / 'r.csv'}', header = true)").fetchall()[0][0]
    assert n == expected.num_rows
    rc, out, _ = _run_cli(capsys, name, *args, "--format", "csv")
    assert out == (tmp_path / "r.csv").read_text(encoding="utf-8")

    rc, out, _ = _run_cli(capsys, name, *args, "--format", "json")
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == expected.num_rows
    assert list(rows[0]) == expected.column_names
    checked = 0
    for field in expected.schema:
        values = [r[field.name] for r in rows if r[field.name] is not None]
        if pa.types.is_date(field.type):
            assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in values), field.name
            checked += len(values)
        if pa.types.is_timestamp(field.type):
            assert all(dt.datetime.fromisoformat(v) and "T" in v for v in values), field.name
            checked += len(values)
    assert checked, "the query should return a date or time to check"

    rc, _, err = _run_cli(capsys, name, *args, "--format", "parquet", "--output", str(tmp_path / "r.parquet"))
    assert rc == 0 and f"{expected.num_rows:,} rows written" in err
    back = pq.read_table(tmp_path / "r.parquet")
    assert back.num_rows == expected.num_rows and back.schema.names == expected.schema.names
    assert back.to_pylist() == expected.to_pylist()


def test_parquet_needs_an_output_path(use, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run_cli(capsys, "homicide_rates", "--format", "parquet")
    assert rc == 2 and "--output" in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_list_columns_survive_csv_and_json():
    table = pa.table({"actors": pa.array([["US", "MX"], [], None], pa.list_(pa.string())),
                      "day": pa.array([dt.date(2017, 6, 16), None, None]),
                      "x": pa.array([1.5, float("nan"), None])})
    rows = json.loads(queries.to_text(table, "json"))
    assert rows[0] == {"actors": ["US", "MX"], "day": "2017-06-16", "x": 1.5} and rows[1]["x"] is None
    csv_text = queries.to_text(table, "csv")
    assert csv_text.splitlines()[1].startswith('"US; MX"')


def test_list_shows_every_saved_query(use, capsys):
    assert main(["query", "--list"]) == 0
    out = capsys.readouterr().out
    for q in SAVED.values():
        assert f"{q.name}: {q.title}" in out
        for p in q.params:
            assert re.search(rf"^\s+{p.name}\s+{re.escape(p.type_label)}\s", out, re.M), (q.name, p.name)
    assert main(["query", "--list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [q["name"] for q in listed] == list(SAVED)
    assert {p["name"] for p in listed[0]["params"]} == {p.name for p in SAVED[listed[0]["name"]].params}


def test_query_without_a_warehouse_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "none"))
    assert main(["query", "homicide_rates"]) == 2
    assert "ciw run" in capsys.readouterr().err


# --- the data dictionary --------------------------------------------------------------------------
def _relations(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.sql("SELECT table_name, 'table' FROM duckdb_tables() WHERE NOT internal "
                            "UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE NOT internal").fetchall())
    finally:
        con.close()


def test_docs_writes_a_dictionary_of_every_table_view_and_query(use, tmp_path, capsys):
    target = tmp_path / "dict" / "data_dictionary.md"
    rc = main(["docs", "--output", str(target)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert str(target) in captured.out
    text = target.read_text(encoding="utf-8")
    relations = _relations(use / "ciw.duckdb")
    assert {"fact_observation", "dim_commitment", "mart_commitment_progress", "observation"} <= set(relations)
    sections = dict(re.findall(r"^### (\S+)\n\n(.*?)(?=^### |\Z)", text, re.M | re.S))
    for name, kind in relations.items():
        assert name in sections, f"{kind} {name} is not in the dictionary"
        body = sections[name]
        assert f"- kind: {kind}" in body
        description = body.split("\n\n", 1)[0].strip()
        assert len(description) > 10, name
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        assert rows, f"{name} lists no columns"
        for line in rows:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            assert len(cells) == 4 and cells[3], f"{name}: a column without a description: {line}"
    assert "- primary key: `indicator_id`, `country_iso3`, `period`, `sex`, `breakdown`" in sections["fact_observation"]
    for q in SAVED.values():
        assert q.name in sections and q.title in sections[q.name]
        for p in q.params:
            assert f"| `{p.name}` | {p.type_label} |" in sections[q.name]


def test_docs_default_path_is_beside_the_data_docs_not_inside(use, capsys):
    target = dictionary.default_path()
    assert target.parent == use and target.parent != use / "docs"  # docs/ is replaced whole by each GX build
    try:
        assert main(["docs"]) == 0, capsys.readouterr().err
        assert target.is_file()
    finally:
        target.unlink(missing_ok=True)


def test_docs_fails_on_an_undescribed_table_or_column(published, tmp_path, monkeypatch, capsys):
    home = tmp_path / "copy"
    home.mkdir()
    shutil.copy(published / "ciw.duckdb", home / "ciw.duckdb")
    con = duckdb.connect(str(home / "ciw.duckdb"))
    con.sql("COMMENT ON COLUMN dim_country.country_name IS NULL")
    con.sql("CREATE TABLE scratch AS SELECT 1 AS x")
    con.close()
    monkeypatch.setenv("CIW_HOME", str(home))
    assert main(["docs"]) == 1
    err = capsys.readouterr().err
    assert "dim_country (table)" in err and "country_name" in err
    assert "scratch (table): no contract" in err and "no table description" in err
    assert not (home / dictionary.FILE_NAME).exists()
