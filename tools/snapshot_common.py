"""Shared by the tools/snapshot_<source>.py builders: the manifest each bundled snapshot carries.

manifest.csv (flows/sources/observations.py reads it) lists each bundled file with its publisher,
address, licence, when its figures were captured, its sha256, where it was taken from and a note.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

MANIFEST_HEADER = ["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(out: Path, rows: list[dict[str, str]]) -> None:
    """One row per bundled file; sha256 is computed here from the written file."""
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_HEADER, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({**row, "sha256": sha256(out / row["file"])})
