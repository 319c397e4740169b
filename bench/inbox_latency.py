"""Latency from a file landing in the inbox to its rows being queryable, through `ciw serve`.

Starts `ciw serve` (its own Prefect server on a free port, a private warehouse in a temp folder),
runs the nightly deployment once so the warehouse is full (a publish rebuilds from the whole lake,
so an empty warehouse would flatter the numbers), then lands N World Bank pages one at a time, each
a real snapshot page with every value revised by -1%, the way writers should (write under a
partial name, rename into place). For each it records when the new value of a sentinel row is
returned by a read-only query, and splits the time with the Prefect API's view of the run.

    .venv/bin/python bench/inbox_latency.py [-n 7] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "data" / "snapshot" / "worldbank"
PAGES = ["VC.IHR.PSRC.P5", "SP.POP.TOTL", "GC.TAX.TOTL.GD.ZS", "NY.GDP.MKTP.CD", "EG.ELC.ACCS.ZS",
         "SL.UEM.TOTL.ZS", "FP.CPI.TOTL.ZG", "GOV_WGI_RL.EST", "NE.EXP.GNFS.ZS", "SM.POP.NETM"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what: str, check, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = check()
        except (httpx.HTTPError, duckdb.Error, OSError):
            v = None
        if v:
            return v
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def revised_page(src: Path, dest_dir: Path) -> tuple[Path, tuple[str, str, float]]:
    """The page with every value revised by -1% (stays inside every plausible range); returns it and
    a sentinel row (country, period, new value) to look for."""
    meta, rows = json.loads(src.read_text())
    sentinel = None
    for r in rows:
        if r["value"] is not None:
            r["value"] = r["value"] * 0.99
            if r["value"] and sentinel is None:
                sentinel = (r["countryiso3code"], r["date"], r["value"])
    out = dest_dir / src.name
    out.write_text(json.dumps([meta, rows]))
    return out, sentinel


def ts(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=7)
    ap.add_argument("--keep", help="use this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="ciw-latency-"))
    home, port = base / "warehouse", free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(CIW_HOME=str(home), DO_NOT_TRACK="1")
    t_start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            start_new_session=True, stdout=open(base / "serve.out", "wb"), stderr=open(base / "serve.err", "wb"))
    http = httpx.Client(base_url=api + "/", timeout=10)
    try:
        dep = wait("deployments", lambda: http.get("deployments/name/ciw-nightly/nightly").json()
                   if http.get("deployments/name/ciw-inbox-file/ingest-file").status_code == 200 else None, 120, 0.25)
        print(f"ciw serve ready (server up, deployments registered) in {time.monotonic() - t_start:.1f}s")
        run = http.post(f"deployments/{dep['id']}/create_flow_run", json={}).json()
        t0 = time.monotonic()
        state = wait("the nightly run", lambda: (lambda s: s if s in ("COMPLETED", "FAILED", "CRASHED") else None)(
            http.get(f"flow_runs/{run['id']}").json()["state_type"]), 300, 0.25)
        facts = duckdb.connect(str(home / "ciw.duckdb"), read_only=True).sql("SELECT count(*) FROM fact_observation").fetchall()[0][0]
        print(f"nightly run {state} in {time.monotonic() - t0:.1f}s: {facts:,} observations")
        inbox = home / "inbox" / "worldbank"
        staging = base / "staging"
        staging.mkdir(exist_ok=True)
        rows = []
        for name in PAGES[: args.n]:
            page, (country, period, value) = revised_page(SNAPSHOT / f"{name}.json", staging)
            part = inbox / f".{page.name}.part"
            part.write_bytes(page.read_bytes())
            os.replace(part, inbox / page.name)
            landed = time.time()

            def visible() -> bool:
                con = duckdb.connect(str(home / "ciw.duckdb"), read_only=True)
                try:
                    got = con.sql("SELECT value FROM fact_observation WHERE indicator_id = $i AND country_iso3 = $c AND period = $p",
                                  params={"i": name, "c": country, "p": period}).fetchall()
                finally:
                    con.close()
                return bool(got) and abs(got[0][0] - value) <= 1e-9 * max(1.0, abs(value))

            wait(f"{name} to be queryable", visible, 120)
            queryable = time.time()
            wait(f"{name} to leave the inbox", lambda: (inbox / "processed" / page.name).exists(), 30)
            ingest_id = http.get("deployments/name/ciw-inbox-file/ingest-file").json()["id"]
            fr = wait(f"the run of {name} to be final", lambda: (lambda r: r if r["end_time"] else None)(http.post(
                "flow_runs/filter", json={"deployments": {"id": {"any_": [ingest_id]}}, "sort": "EXPECTED_START_TIME_DESC", "limit": 1}).json()[0]), 30)
            ev = http.post("events/filter", json={"filter": {"event": {"name": ["ciw.file.landed"]}, "resource": {"id": [f"ciw.file.{(inbox / page.name).resolve()}"]}}, "limit": 5}).json()["events"]
            event_at = min(ts(e["occurred"]) for e in ev)
            rows.append({
                "file": page.name, "total": queryable - landed, "to_event": event_at - landed,
                "event_to_start": ts(fr["start_time"]) - event_at, "run": ts(fr["end_time"]) - ts(fr["start_time"]),
            })
            tasks = http.post("task_runs/filter", json={"flow_runs": {"id": {"any_": [fr["id"]]}}}).json()
            for tr in tasks:
                if tr["start_time"] and tr["end_time"]:
                    key = tr["name"].rsplit("-", 1)[0]
                    rows[-1][key] = rows[-1].get(key, 0.0) + ts(tr["end_time"]) - ts(tr["start_time"])
            r = rows[-1]
            print(f"  {name:<20} landed -> queryable {r['total']:5.2f}s  (watcher {r['to_event']:.2f}s, "
                  f"event -> run start {r['event_to_start']:.2f}s, run {r['run']:.2f}s)")
        med = {k: statistics.median(r[k] for r in rows) for k in ("total", "to_event", "event_to_start", "run")}
        tasks = sorted({k for r in rows for k in r} - {"file", "total", "to_event", "event_to_start", "run"})
        print("median seconds per task inside the run: " + ", ".join(f"{k} {statistics.median(r.get(k, 0.0) for r in rows):.2f}" for k in tasks))
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"median of {len(rows)}: landed -> queryable {med['total']:.2f}s (min {min(r['total'] for r in rows):.2f}, "
              f"max {max(r['total'] for r in rows):.2f}); watcher {med['to_event']:.2f}s, event -> run start "
              f"{med['event_to_start']:.2f}s, run {med['run']:.2f}s")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
