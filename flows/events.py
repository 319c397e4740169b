"""Prefect events the pipeline emits, so dashboards and downstream jobs can react."""
from __future__ import annotations


def emit_published(summary: dict) -> None:
    """`ciw.warehouse.published` after a successful publish (row counts, run id)."""


def emit_quarantined(run_id: str, source: dict) -> None:
    """`ciw.batch.quarantined` when a batch had rows quarantined."""
