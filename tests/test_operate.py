"""`ciw serve` for real: its own Prefect server, the deployments, the inbox watcher, events, shutdown.

One `ciw serve` subprocess (with a local Prefect server on a free port and a private warehouse)
serves the whole module; the tests talk to it the way an operator or a dashboard would: files
into the inbox, the Prefect REST API, read-only queries on the published file. The last test
stops it with SIGTERM and checks that no process is left behind.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "data" / "snapshot" / "worldbank"
FIXTURES = Path(__file__).parent / "fixtures" / "worldbank"
TIMEZONE = "America/Guatemala"
DATA_TABLES = ["dim_country", "dim_indicator", "dim_commitment", "bridge_commitment_indicator",
               "fact_observation", "fact_observation_history", "quarantine"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """A running `ciw serve` and what the tests need to reach it."""

    def __init__(self, home: Path, port: int, logs: Path):
        self.home, self.port, self.logs = home, port, logs
        self.api = f"http://127.0.0.1:{port}/api"
        self.inbox = home / "inbox" / "worldbank"
        self.http = httpx.Client(base_url=self.api + "/", timeout=10)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(CIW_HOME=str(home), DO_NOT_TRACK="1", PYTHONUNBUFFERED="1",
                   PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL="1",
                   # the scheduler looks for deployments to schedule every 60 s by default; the
                   # nightly test need not wait for its second look
                   PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--timezone", TIMEZONE],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
            stdout=open(logs / "serve.out", "wb"), stderr=open(logs / "serve.err", "wb"),
        )

    def tail(self, n: int = 30) -> str:
        parts = []
        for name in ("serve.out", "serve.err"):
            lines = (self.logs / name).read_text(errors="replace").splitlines()[-n:]
            parts.append(f"--- {name} ---\n" + "\n".join(lines))
        server_log = self.home / ".prefect" / "server.log"
        if server_log.exists():
            parts.append("--- server.log ---\n" + "\n".join(server_log.read_text(errors="replace").splitlines()[-n:]))
        return "\n".join(parts)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
        """Poll `check` until it returns something truthy; fail with the serve logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"ciw serve exited ({self.proc.returncode}) while waiting for {what}\n{self.tail()}")
            try:
                value = check()
            except (httpx.HTTPError, duckdb.Error, OSError):
                value = None
            if value:
                return value
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{self.tail()}")

    def post(self, path: str, body: dict) -> Any:
        r = self.http.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def deployment(self, flow: str, name: str) -> dict | None:
        r = self.http.get(f"deployments/name/{flow}/{name}")
        return r.json() if r.status_code == 200 else None

    def events(self, name: str, since: datetime) -> list[dict]:
        page = self.post("events/filter", {"filter": {"event": {"name": [name]}, "occurred": {"since": since.isoformat()}}, "limit": 50})
        return page["events"]

    def con(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.home / "ciw.duckdb"), read_only=True)

    def sql(self, q: str, **params) -> list[tuple]:
        con = self.con()
        try:
            return con.sql(q, params=params).fetchall()
        finally:
            con.close()

    def drop(self, src: Path, name: str | None = None) -> Path:
        """Land a file the way writers should: write under a partial name, rename into place."""
        name = name or src.name
        part = self.inbox / f".{name}.part"
        shutil.copyfile(src, part)
        dest = self.inbox / name
        os.replace(part, dest)
        return dest

    def settled(self, name: str) -> Path | None:
        for outcome in ("processed", "rejected"):
            p = self.inbox / outcome / name
            if p.exists():
                return p
        return None


@pytest.fixture(scope="module")
def serve(tmp_path_factory) -> Serve:
    base = tmp_path_factory.mktemp("operate")
    os.environ.setdefault("PREFECT_HOME", str(base / "client-prefect-home"))  # run_deployment below: not ~/.prefect
    s = Serve(base / "warehouse", _free_port(), base)
    s.wait_for("both deployments to be registered",
               lambda: s.deployment("ciw-nightly", "nightly") and s.deployment("ciw-inbox-file", "ingest-file"), timeout=90)
    s.wait_for("the inbox folder", lambda: s.inbox.is_dir(), timeout=10)
    yield s
    if s.proc.poll() is None:  # the shutdown test did not run or failed
        os.killpg(s.proc.pid, signal.SIGTERM)
        try:
            s.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(s.proc.pid, signal.SIGKILL)
        state = s.home / ".prefect" / "ciw-serve.json"
        if state.exists():
            info = json.loads(state.read_text())
            for pgid in (info.get("pid"), info.get("server_pid")):
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, TypeError):
                    pass


def _values_in(page: Path) -> int:
    """Rows with a value in a World Bank page (the rows a load of it can insert)."""
    _, rows = json.loads(page.read_text())
    return sum(1 for r in rows if r["value"] is not None)


def _digests(s: Serve) -> dict[str, str]:
    con = s.con()
    try:
        return {t: con.sql(f"SELECT md5(coalesce(string_agg(CAST(x AS VARCHAR), '\n' ORDER BY CAST(x AS VARCHAR)), '')) FROM {t} x").fetchall()[0][0]
                for t in DATA_TABLES}
    finally:
        con.close()


def _indicator_rows(s: Serve, indicator: str) -> int:
    return s.sql("SELECT count(*) FROM fact_observation WHERE indicator_id = $i", i=indicator)[0][0]


T0 = datetime.now(timezone.utc) - timedelta(minutes=1)


def test_watcher_reports_a_file_once_it_is_complete(tmp_path):
    """Unit check of the stability rule: not on a partial write, once, again after a rewrite."""
    from flows.inbox import InboxWatcher

    d = tmp_path / "worldbank"
    d.mkdir()
    seen: list[str] = []
    w = InboxWatcher({"worldbank": d}, lambda p, s: seen.append(p.name) or True, stable_scans=2)
    f = d / "a.json"
    f.write_text("[{}")
    (d / ".b.json.part").write_text("x")
    (d / "c.json.tmp").write_text("x")
    w.scan_once()
    w.scan_once()
    with open(f, "a") as fh:  # the writer was not done: the clock restarts
        fh.write(", []]")
    assert w.scan_once() == [] and w.scan_once() == [] and seen == []
    assert [p.name for p in w.scan_once()] == ["a.json"]
    assert w.scan_once() == [] and seen == ["a.json"]
    f.write_text("[{}, [1]]")  # rewritten in place after it was reported
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    w.scan_once(), w.scan_once(), w.scan_once()
    assert seen == ["a.json", "a.json"]
    refused = InboxWatcher({"worldbank": d}, lambda p, s: False)  # the event could not be sent
    for _ in range(4):
        refused.scan_once()
    assert refused._seen[f].emitted is False  # so it is offered again on the next scan


# The module tells one story on one server: a file lands, a bad file is refused, two land at once,
# the events announce it all, the nightly runs. Each step is a module fixture that the tests asserting
# on it (and the later steps) request, so any test selected alone (`-k`) finds the state it needs,
# and the steps always happen in this order.

@pytest.fixture(scope="module")
def first_page(serve) -> dict:
    """A World Bank page written into the inbox in place, in two goes (the first half alone is not
    valid JSON and must not be reported), until its rows are queryable."""
    page = SNAPSHOT / "VC.IHR.PSRC.P5.json"
    t_landed = time.monotonic()
    data = page.read_bytes()
    with open(serve.inbox / page.name, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        time.sleep(0.6)
        fh.write(data[len(data) // 2:])
    moved = serve.wait_for("the file to move to processed/", lambda: serve.settled(page.name), timeout=60)
    assert moved.parent.name == "processed", (moved.parent / f"{page.name}.reason.txt").read_text()
    rows = serve.wait_for("its rows to be queryable", lambda: _indicator_rows(serve, "VC.IHR.PSRC.P5"), timeout=10)
    print(f"\nlanding to queryable: {time.monotonic() - t_landed:.1f}s")
    return {"page": page, "rows": rows}


def test_dropped_file_is_ingested_through_the_event_trigger(serve, first_page):
    page = first_page["page"]
    assert not (serve.inbox / page.name).exists()
    assert first_page["rows"] == _values_in(page)
    # it went through the deployment's trigger, not around it
    runs = _runs_of(serve, [serve.inbox / page.name])
    assert [r["parameters"] for r in runs] == [{"path": str((serve.inbox / page.name).resolve()), "source": "worldbank"}]
    assert runs[0]["state_type"] == "COMPLETED"
    # the ciw run id names the Prefect flow run
    [(status, loaded)] = serve.sql("SELECT status, rows_loaded FROM run_log WHERE run_id LIKE '%-' || $s", s=runs[0]["id"][:8])
    assert (status, loaded) == ("loaded", first_page["rows"])


@pytest.fixture(scope="module")
def rejected_drop(serve, first_page) -> dict:
    """An HTML error page saved under a page's name: refused whole. The tables' digests around it."""
    before = _digests(serve)
    serve.drop(FIXTURES / "html_error.html", "NY.GDP.MKTP.CD.json")
    moved = serve.wait_for("the bad file to be settled", lambda: serve.settled("NY.GDP.MKTP.CD.json"), timeout=60)
    serve.wait_for("the rejection in run_log", lambda: serve.sql("SELECT count(*) FROM run_log WHERE status = 'rejected'")[0][0], timeout=10)
    return {"moved": moved, "before": before, "after": _digests(serve)}


def test_bad_file_is_rejected_with_its_reason_and_the_warehouse_is_unchanged(rejected_drop):
    moved = rejected_drop["moved"]
    assert moved.parent.name == "rejected"
    reason = (moved.parent / "NY.GDP.MKTP.CD.json.reason.txt").read_text()
    assert "html" in reason.lower() and "NY.GDP.MKTP.CD.json" in reason
    assert rejected_drop["after"] == rejected_drop["before"]


FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _all_in(runs: list[dict], *states: str, n: int = 1) -> list[dict] | None:
    """The runs, when there are `n` of them and all are in one of `states`; else None."""
    return runs if len(runs) == n and all(r["state_type"] in states for r in runs) else None


def _runs_of(s: Serve, paths: list[Path]) -> list[dict]:
    ingest_id = s.deployment("ciw-inbox-file", "ingest-file")["id"]
    runs = s.post("flow_runs/filter", {"deployments": {"id": {"any_": [ingest_id]}}, "limit": 50})
    wanted = {str(p.resolve()) for p in paths}
    return [r for r in runs if r["parameters"].get("path") in wanted]


@pytest.fixture(scope="module")
def two_files(serve, first_page, tmp_path_factory) -> dict:
    """Two runs in flight together, both reaching the publish at the same moment: the fixture holds
    the publish lock until both runs are running, then lets go. The second page has one row from an
    unknown country. What the warehouse held before and after, for the test to compare."""
    meta, rows = json.loads((SNAPSHOT / "GC.TAX.TOTL.GD.ZS.json").read_text())
    bad = next(i for i, r in enumerate(rows) if r["value"] is not None)
    rows[bad] = {**rows[bad], "countryiso3code": "XKX"}
    tax = tmp_path_factory.mktemp("two-files") / "GC.TAX.TOTL.GD.ZS.json"
    tax.write_text(json.dumps([meta, rows]))
    pages = {SNAPSHOT / "SP.POP.TOTL.json": (_values_in(SNAPSHOT / "SP.POP.TOTL.json"), 0), tax: (_values_in(tax) - 1, 1)}
    kept = _indicator_rows(serve, "VC.IHR.PSRC.P5")
    runs_before = serve.sql("SELECT count(DISTINCT run_id) FROM run_log")[0][0]
    with open(serve.home / ".publish.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dropped = [serve.drop(p) for p in pages]
        serve.wait_for("both ingest runs to be running at once", lambda: _all_in(_runs_of(serve, dropped), "RUNNING", n=2), timeout=60)
        time.sleep(1.0)  # both are now past validation or waiting on the lock
        fcntl.flock(lock, fcntl.LOCK_UN)
    settled = {p.name: serve.wait_for(f"{p.name} to be settled", lambda p=p: serve.settled(p.name), timeout=90) for p in pages}
    serve.wait_for("both runs in run_log", lambda: serve.sql("SELECT count(DISTINCT run_id) FROM run_log")[0][0] == runs_before + 2, timeout=10)
    runs = serve.wait_for("both runs to be final", lambda: _all_in(_runs_of(serve, dropped), *FINAL, n=2), timeout=30)
    new_runs = "SELECT run_id FROM run_log ORDER BY finished_at DESC LIMIT 2"
    manifest = json.loads((serve.home / "lake" / "manifest.json").read_text())
    return {
        "pages": pages, "settled": settled, "runs": runs, "kept": kept,
        "rows": {p.stem: _indicator_rows(serve, p.stem) for p in [*pages, SNAPSHOT / "VC.IHR.PSRC.P5.json"]},
        "run_log": serve.sql(f"SELECT status, rows_loaded, rows_quarantined FROM run_log WHERE run_id IN ({new_runs})"),
        "quarantine": serve.sql("SELECT rule_id, bad_value FROM quarantine"),
        "lake_rows": sum(e["rows"] for e in manifest["tables"]["fact_observation"]),
        "facts": serve.sql("SELECT count(*) FROM fact_observation")[0][0],
    }


def test_two_files_at_once_both_land_and_nothing_is_lost(two_files):
    """Both batches land; the row from an unknown country is quarantined (and announced, see below)."""
    for name, moved in two_files["settled"].items():
        assert moved.parent.name == "processed", (moved.parent / f"{name}.reason.txt").read_text()
    for p, (loaded, _) in two_files["pages"].items():
        assert two_files["rows"][p.stem] == loaded, p.name
    assert two_files["rows"]["VC.IHR.PSRC.P5"] == two_files["kept"] > 0  # the earlier load survived both publishes
    assert sorted(two_files["run_log"]) == sorted(("loaded", loaded, quarantined) for loaded, quarantined in two_files["pages"].values())
    assert two_files["quarantine"] == [("known_country", "XKX")]
    assert {r["state_type"] for r in two_files["runs"]} == {"COMPLETED"}  # the one that waited did not fail
    assert two_files["lake_rows"] == two_files["facts"]  # the published file and the lake agree


def test_published_events_carry_the_run_and_its_counts(serve, rejected_drop, two_files):
    con = serve.con()
    try:
        runs = {r[0]: (r[1], r[2]) for r in con.sql("SELECT run_id, status, rows_loaded FROM run_log").fetchall()}
        facts_now = con.sql("SELECT count(*) FROM fact_observation").fetchall()[0][0]
    finally:
        con.close()
    def published_for_every_run() -> dict | None:
        by_run = {e["payload"]["run_id"]: e for e in serve.events("ciw.warehouse.published", T0)}
        return by_run if set(by_run) >= set(runs) else None

    by_run = serve.wait_for("a ciw.warehouse.published event per run", published_for_every_run, timeout=30)
    for run_id, (status, loaded) in runs.items():
        payload = by_run[run_id]["payload"]
        [src] = payload["sources"]
        assert (src["status"], src["rows_loaded"]) == ({"loaded": "ok"}.get(status, status), loaded), run_id
        assert by_run[run_id]["resource"]["prefect.resource.id"] == f"ciw.warehouse.{serve.home / 'ciw.duckdb'}"
    # the latest publish (the one whose run_log holds every run) counted what the warehouse holds now
    [latest] = [e for e in by_run.values() if e["payload"]["tables"]["run_log"] == len(runs)]
    assert latest["payload"]["tables"]["fact_observation"] == facts_now
    # the rejected batch and the quarantined row were announced too
    rejected = serve.wait_for("ciw.batch.rejected", lambda: serve.events("ciw.batch.rejected", T0), timeout=15)
    assert [e["payload"]["source_id"] for e in rejected] == ["worldbank"]
    [quarantined] = serve.wait_for("ciw.batch.quarantined", lambda: serve.events("ciw.batch.quarantined", T0), timeout=15)
    [(batch_id, run_id)] = serve.sql("SELECT batch_id, run_id FROM run_log WHERE rows_quarantined > 0")
    assert quarantined["resource"]["prefect.resource.id"] == f"ciw.batch.{batch_id}"
    assert (quarantined["payload"]["run_id"], quarantined["payload"]["rows_quarantined"]) == (run_id, 1)


def test_nightly_deployment_is_scheduled_and_a_run_from_it_completes(serve, first_page, rejected_drop, two_files):
    """Last of the story's steps (the drops before it load their pages as new rows)."""
    dep = serve.deployment("ciw-nightly", "nightly")
    [sched] = dep["schedules"]
    assert (sched["schedule"]["cron"], sched["schedule"]["timezone"], sched["active"]) == ("0 2 * * *", TIMEZONE, True)
    assert dep["parameters"] == {"live": False}
    upcoming = serve.wait_for("the scheduler to create the upcoming nightly run", lambda: serve.post("flow_runs/filter", {
        "deployments": {"id": {"any_": [dep["id"]]}}, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        "sort": "EXPECTED_START_TIME_ASC", "limit": 1}), timeout=60)
    local = datetime.fromisoformat(upcoming[0]["expected_start_time"]).astimezone(ZoneInfo(TIMEZONE))
    assert (local.hour, local.minute) == (2, 0)

    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: serve.api}):
        flow_run = run_deployment("ciw-nightly/nightly", timeout=0)
    [run] = serve.wait_for("the nightly run to finish", lambda: _all_in([serve.http.get(f"flow_runs/{flow_run.id}").json()], *FINAL), timeout=120)
    assert run["state_type"] == "COMPLETED", serve.tail()
    suffix = str(flow_run.id)[:8]
    statuses = {r[0] for r in serve.sql("SELECT status FROM run_log WHERE run_id LIKE '%-' || $s", s=suffix)}
    assert statuses == {"loaded"}  # one row per source, every one loaded

    from flows import prefect_status

    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = serve.api
    try:
        report = prefect_status.prefect_runs(limit=20)
    finally:
        os.environ.pop("PREFECT_API_URL") if old is None else os.environ.__setitem__("PREFECT_API_URL", old)
    assert report is not None
    assert any(r["flow_run_id"] == str(flow_run.id) and r["state"] == "Completed" for r in report["runs"])
    assert [n["deployment"] for n in report["next_scheduled"]] == ["ciw-nightly/nightly"]


def test_a_second_serve_on_the_same_warehouse_is_refused(serve):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    r = subprocess.run([sys.executable, "-m", "flows.cli", "serve", "--port", str(_free_port())], cwd=ROOT,
                       env={**env, "CIW_HOME": str(serve.home)}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "another ciw serve is already operating" in r.stderr, r.stderr


def test_serve_against_an_existing_server_leaves_that_server_running(serve, tmp_path):
    """--api-url: no server of its own; stopping it stops only what it started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    out = tmp_path / "serve.out"
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--api-url", serve.api, "--no-watcher"], cwd=ROOT,
                            env={**env, "CIW_HOME": str(tmp_path / "warehouse")}, stdout=open(out, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops everything" not in out.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        text = out.read_text()
        assert "existing server" in text and f"Prefect UI:   http://127.0.0.1:{serve.port}" in text, text
        assert not (tmp_path / "warehouse" / ".prefect" / "server.log").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(45)
    assert code == 0, out.read_text()
    assert httpx.get(serve.api + "/health", timeout=5).status_code == 200


def _group_members(pgids: set[int]) -> list[str]:
    """Processes whose process group is one of `pgids` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) in pgids:
            try:
                cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmd = "?"
            out.append(f"{stat.parent.name}: {cmd[:120]}")
    return out


def test_sigterm_stops_everything_and_leaves_no_process(serve):
    state = json.loads((serve.home / ".prefect" / "ciw-serve.json").read_text())
    groups = {serve.proc.pid, state["pid"], state["server_pid"]}  # front, serving process, Prefect server
    assert len(groups) == 3 and all(_group_members({g}) for g in groups), "expected three running process groups"
    os.kill(serve.proc.pid, signal.SIGTERM)
    try:
        code = serve.proc.wait(45)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ciw serve did not stop within 45s of SIGTERM\n{serve.tail()}")
    assert code == 0, serve.tail()
    deadline = time.monotonic() + 5
    while _group_members(groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_members(groups) == []
    assert not (serve.home / ".prefect" / "ciw-serve.json").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(serve.api + "/health", timeout=2)
    assert "ciw serve: stopped" in (serve.logs / "serve.err").read_text()
