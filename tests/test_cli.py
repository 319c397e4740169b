"""The `ciw` reader commands against a published warehouse."""
from __future__ import annotations

import csv
import io
import json

import pytest

from flows.cli import main


@pytest.fixture
def use(published, monkeypatch):
    monkeypatch.setenv("CIW_HOME", str(published))
    return published


def test_sql_prints_a_table(use, capsys):
    assert main(["sql", "SELECT status, count(*) AS n FROM mart_commitment_progress GROUP BY 1 ORDER BY 1"]) == 0
    out = capsys.readouterr().out
    assert "status" in out and "on_track" in out and "rows)" in out


def test_sql_csv_and_json(use, capsys):
    main(["sql", "SELECT country_iso3, country_name FROM dim_country ORDER BY 1", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["country_iso3"] for r in rows][:3] == ["BLZ", "CRI", "GTM"]
    main(["sql", "SELECT count(*) AS n FROM dim_commitment", "--format", "json"])
    assert json.loads(capsys.readouterr().out) == [{"n": 22}]


@pytest.mark.parametrize("statement", [
    "DELETE FROM fact_observation",
    "INSERT INTO dim_country VALUES ('XXX', 'XX', 'x', 'x', false)",
    "CREATE TABLE t AS SELECT 1",
    "COPY fact_observation TO '/tmp/x.csv'",
    "SELECT 1; DROP TABLE dim_country",
])
def test_sql_refuses_writes(use, capsys, statement):
    assert main(["sql", statement]) == 2
    assert "ciw sql:" in capsys.readouterr().err


def test_status_reports_last_run_tables_and_freshness(use, capsys):
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "last run:" in out and "fact_observation" in out and "worldbank" in out
    main(["status", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    fresh = {r["source_id"]: r for r in report["freshness"]}
    assert fresh["worldbank"]["rows"] > 5000 and fresh["worldbank"]["covers_to"] >= "2023"


def test_sql_without_a_warehouse_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "none"))
    assert main(["sql", "SELECT 1"]) == 2
    assert "ciw run" in capsys.readouterr().err


@pytest.mark.parametrize("server_running, one_shot", [(False, True), (True, True), (False, False)])
def test_only_prefects_temporary_server_is_kept_quiet(ciw_home, monkeypatch, server_running, one_shot):
    """A run with no server to use starts Prefect's temporary one, whose shutdown noise must not
    follow the run's summary; a run against `ciw serve`'s server, or `ciw serve` starting its
    own, changes nothing about the server's logging."""
    import os

    from flows import cli, prefect_status, serve

    # a copy the test may change: what _prefect_env sets must not reach the tests after this one
    kept = ("PREFECT_API_URL", "PREFECT_SERVER_LOGGING_LEVEL", "PREFECT_HOME")
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k not in kept})
    monkeypatch.setattr(prefect_status, "api_url", lambda: "http://127.0.0.1:4999/api" if server_running else None)
    monkeypatch.setattr(serve, "healthy", lambda url: server_running)
    cli._prefect_env(one_shot=one_shot)
    assert os.environ.get("PREFECT_API_URL") == ("http://127.0.0.1:4999/api" if server_running else None)
    assert os.environ.get("PREFECT_SERVER_LOGGING_LEVEL") == ("CRITICAL" if one_shot and not server_running else None)
