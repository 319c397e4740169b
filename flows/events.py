"""Prefect events the pipeline emits, so dashboards and downstream jobs can react.

Events go only to a Prefect API that is configured (`PREFECT_API_URL`, as under `ciw serve`):
without one, `emit_event` would start a throwaway server and the event would be lost with it
(TOOLCHAIN-NOTES). An event is a notification, never part of the publish: any failure to send one
is logged and the run carries on.
"""
from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("ciw.events")

PUBLISHED = "ciw.warehouse.published"
UNCHANGED = "ciw.warehouse.unchanged"  # a run that found nothing new: the published state stands
QUARANTINED = "ciw.batch.quarantined"
REJECTED = "ciw.batch.rejected"
FILE_LANDED = "ciw.file.landed"

_SOURCE_FIELDS = ("source_id", "batch_id", "status", "rows_in", "rows_null", "rows_loaded", "rows_unchanged",
                  "rows_revised", "rows_quarantined", "message")


def api_configured() -> bool:
    """True when events have somewhere durable to go (an API URL from env or Prefect profile)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    try:
        from prefect.settings import get_current_settings

        return bool(get_current_settings().api.url)
    except Exception:  # noqa: BLE001 - a settings problem only means: no events
        return False


def emit(event: str, resource: dict[str, str], payload: dict[str, Any], related: list[dict[str, str]] | None = None) -> bool:
    """Send one event; True when it was handed to Prefect's event worker. Never raises."""
    if not api_configured():
        log.debug("no Prefect API configured; %s not sent", event)
        return False
    try:
        from prefect.events import emit_event

        return emit_event(event=event, resource=resource, payload=payload, related=related) is not None
    except Exception as exc:  # noqa: BLE001 - events must never fail the pipeline
        log.warning("could not emit %s: %s", event, exc)
        return False


def _source_payload(src: dict) -> dict:
    return {k: src.get(k) for k in _SOURCE_FIELDS if k in src}


def emit_published(summary: dict) -> None:
    """`ciw.warehouse.published` after a successful publish (row counts, run id), or
    `ciw.warehouse.unchanged` after a run that had nothing to publish; and `ciw.batch.rejected` for
    each batch the run refused, so alerting needs one subscription each."""
    warehouse = str(summary.get("warehouse", ""))
    resource = {"prefect.resource.id": f"ciw.warehouse.{warehouse}", "prefect.resource.name": "ciw warehouse",
                "ciw.run_id": str(summary.get("run_id", ""))}
    payload = {
        "run_id": summary.get("run_id"),
        "warehouse": warehouse,
        "tables": dict(summary.get("tables", {})),
        "sources": [_source_payload(s) for s in summary.get("sources", [])],
        "quarantined": summary.get("quarantined", 0),
    }
    emit(PUBLISHED if summary.get("published", True) else UNCHANGED, resource, payload)
    for src in summary.get("sources", []):
        if src.get("status") == "rejected":
            emit(REJECTED, _batch_resource(src), {"run_id": summary.get("run_id"), **_source_payload(src)},
                 related=[{**resource, "prefect.resource.role": "warehouse"}])


def emit_quarantined(run_id: str, source: dict) -> None:
    """`ciw.batch.quarantined` when a batch had rows quarantined."""
    emit(QUARANTINED, _batch_resource(source), {"run_id": run_id, **_source_payload(source)})


def _batch_resource(src: dict) -> dict[str, str]:
    return {"prefect.resource.id": f"ciw.batch.{src.get('batch_id')}", "ciw.source": str(src.get("source_id"))}


def file_resource(path: str, source: str) -> dict[str, str]:
    """The resource of a `ciw.file.landed` event: the file itself."""
    return {"prefect.resource.id": f"ciw.file.{path}", "prefect.resource.name": os.path.basename(path), "ciw.source": source}
