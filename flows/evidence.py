"""The evidence register for commitments no statistical series measures.

A ministerial meeting, a working group or an observatory either happened or did not: its status
is a judgement backed by a document, so it is recorded as an appended row (date, source address,
note) in data/evidence/register.csv, never edited in place; the latest row per commitment and
country is the current status. The register is project data, versioned with the code, and loaded
and validated at every run like the catalog.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from flows.catalog import EVIDENCE_COLUMNS, evidence_path
from flows.config import Settings

STATUSES = ("no_evidence", "not_started", "limited", "substantial", "complete")
_URL = re.compile(r"^https?://\S+$")


class EvidenceError(ValueError):
    pass


@dataclass(frozen=True)
class Evidence:
    commitment_id: str
    status: str
    as_of: date
    source_url: str
    note: str
    country_iso3: str | None = None  # None: about the commitment as a whole


def add(s: Settings, e: Evidence, known_commitments: set[str], known_countries: set[str]) -> dict[str, str]:
    """Check one entry and append it to the register; returns the row written."""
    if e.commitment_id not in known_commitments:
        raise EvidenceError(f"unknown commitment {e.commitment_id!r} (see: ciw sql \"SELECT commitment_id, text FROM dim_commitment\")")
    if e.status not in STATUSES:
        raise EvidenceError(f"status must be one of {', '.join(STATUSES)}; got {e.status!r}")
    if not _URL.match(e.source_url):
        raise EvidenceError(f"source must be an http(s) address; got {e.source_url!r}")
    if not e.note.strip():
        raise EvidenceError("a note saying what the evidence shows is required")
    if e.country_iso3 is not None and e.country_iso3 not in known_countries:
        raise EvidenceError(f"unknown country {e.country_iso3!r}")
    if e.as_of > date.today():
        raise EvidenceError(f"as-of date {e.as_of} is in the future")
    row = {
        "commitment_id": e.commitment_id, "country_iso3": e.country_iso3 or "", "status": e.status,
        "as_of": e.as_of.isoformat(), "source_url": e.source_url, "note": " ".join(e.note.split()),
        "recorded_at": datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat(),
    }
    path = evidence_path(s)
    with open(path, "a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, fieldnames=list(EVIDENCE_COLUMNS), lineterminator="\n").writerow(row)
    return row
