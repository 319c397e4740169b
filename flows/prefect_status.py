"""What Prefect knows about ciw's runs, for `ciw status`: recent flow runs and the next scheduled.

Talks to the REST API with httpx and a short timeout instead of importing Prefect (1 s), so
`ciw status` stays fast and answers even when the server is down. The API is `PREFECT_API_URL`,
else the server a running `ciw serve` recorded in `warehouse/.prefect/ciw-serve.json`.
"""
from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from typing import Any

from flows.config import settings

STATE_FILE = "ciw-serve.json"  # written by flows/serve.py


def api_url() -> str | None:
    """The Prefect API to ask, or None when none is configured or recorded by a live `ciw serve`."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"].rstrip("/")
    state = settings().warehouse_dir / ".prefect" / STATE_FILE
    try:
        info = json.loads(state.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["api_url"]).rstrip("/")


def _headers() -> dict[str, str]:
    if os.environ.get("PREFECT_API_AUTH_STRING"):
        return {"Authorization": "Basic " + base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()}
    if os.environ.get("PREFECT_API_KEY"):
        return {"Authorization": f"Bearer {os.environ['PREFECT_API_KEY']}"}
    return {}


def _seconds(start: str | None, end: str | None, total: float | None) -> float | None:
    if total:
        return round(float(total), 1)
    if start and end:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)
    return None


def prefect_runs(limit: int = 10, timeout: float = 2.0) -> dict[str, Any] | None:
    """Recent runs of ciw's flows (newest first) and the next scheduled run per deployment, or None
    when no Prefect API is configured or it does not answer within `timeout` seconds.

    Each run carries `ciw_run_suffix` (the first 8 characters of the flow run id), which is how a
    ciw run id (`<UTC stamp>-<suffix>`) in run_log is tied to its Prefect flow run.
    """
    url = api_url()
    if not url:
        return None
    import httpx

    try:
        with httpx.Client(base_url=url + "/", timeout=timeout, headers=_headers()) as c:
            if c.get("health").status_code != 200:
                return None
            flows = {f["id"]: f["name"] for f in _post(c, "flows/filter", {"flows": {"name": {"like_": "ciw-"}}, "limit": 50})}
            if not flows:
                return {"api_url": url, "runs": [], "next_scheduled": []}
            deps = {d["id"]: d for d in _post(c, "deployments/filter", {"flows": {"id": {"any_": list(flows)}}, "limit": 50})}
            ours = {"id": {"any_": list(flows)}}
            recent = _post(c, "flow_runs/filter", {
                "flows": ours, "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_DESC", "limit": limit,
            })
            scheduled = _post(c, "flow_runs/filter", {
                "flows": ours, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_ASC", "limit": 50,
            })
    except (httpx.HTTPError, ValueError):
        return None

    def dep_name(r: dict) -> str | None:
        d = deps.get(r.get("deployment_id"))
        return f"{flows.get(r['flow_id'], '?')}/{d['name']}" if d else None

    runs = [{
        "flow_run_id": r["id"], "ciw_run_suffix": r["id"][:8], "name": r["name"], "flow": flows.get(r["flow_id"]),
        "deployment": dep_name(r), "state": r.get("state_name") or r.get("state_type"),
        "start_time": r.get("start_time"), "end_time": r.get("end_time"),
        "seconds": _seconds(r.get("start_time"), r.get("end_time"), r.get("total_run_time")),
        "parameters": r.get("parameters") or {},
    } for r in recent]
    nxt: dict[str, dict] = {}
    for r in scheduled:
        name = dep_name(r) or flows.get(r["flow_id"], "?")
        nxt.setdefault(name, {"deployment": name, "expected_start_time": r.get("expected_start_time"), "flow_run_id": r["id"]})
    paused = sorted(f"{flows.get(d['flow_id'], '?')}/{d['name']}" for d in deps.values() if d.get("paused"))
    return {"api_url": url, "runs": runs, "next_scheduled": list(nxt.values()), "paused_deployments": paused}


def _post(c, path: str, body: dict) -> list[dict]:  # noqa: ANN001 - httpx.Client, imported lazily
    r = c.post(path, json=body)
    r.raise_for_status()
    return r.json()


def render(report: dict[str, Any] | None) -> str:
    """Text block for `ciw status` (empty when Prefect is not reachable)."""
    if not report:
        return ""
    out = [f"Prefect ({report['api_url']}):"]
    for n in report["next_scheduled"]:
        out.append(f"  next scheduled: {n['deployment']} at {n['expected_start_time']}")
    for p in report.get("paused_deployments", []):
        out.append(f"  paused: {p} (no `ciw serve` is serving it)")
    out.append("  recent flow runs:")
    for r in report["runs"] or []:
        secs = f"{r['seconds']:.1f}s" if r["seconds"] is not None else "-"
        out.append(f"    {r['start_time'] or r['name']:<32}  {r['deployment'] or r['flow']:<28} {r['state']:<12} {secs:>8}  flow run {r['ciw_run_suffix']}")
    if not report["runs"]:
        out.append("    (none)")
    return "\n".join(out) + "\n"
