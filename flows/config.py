"""Typed settings: every path and knob the pipeline uses, in one place.

Defaults put everything under the checkout; `CIW_HOME` moves the warehouse elsewhere (tests use it
to get a private warehouse per test).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    project_root: Path = PROJECT_ROOT
    warehouse_dir: Path = field(default_factory=lambda: Path(os.environ.get("CIW_HOME", PROJECT_ROOT / "warehouse")))
    # Storage format of the published DuckDB file: older DuckDB clients inside BI drivers cannot
    # read DuckDB 2.0's newest format (see docs/bi.md / TOOLCHAIN-NOTES).
    storage_version: str = os.environ.get("CIW_STORAGE_VERSION", "v1.4.0")
    base_year: int = 2017
    # Years accepted in fact_observation: 1960 (first WDI year) up to the current year.
    min_year: int = 1960
    versions_kept: int = 5
    # How long a run waits for another run's publish before giving up (a live nightly can be long).
    publish_lock_timeout_s: float = float(os.environ.get("CIW_PUBLISH_LOCK_TIMEOUT", "3600"))
    # A revision moving a value by more than this share of the old value is flagged for review.
    revision_review_share: float = float(os.environ.get("CIW_REVISION_REVIEW_SHARE", "0.2"))
    # Great Expectations' own result (Data Docs) is computed on at most this many rows of a batch:
    # every row the DuckDB engine failed (up to half of it) plus a fixed sample of the rest. The
    # DuckDB engine checks every row regardless; GX on pandas costs 70 s and 5 GB per 5M rows.
    gx_record_max_rows: int = field(default_factory=lambda: int(os.environ.get("CIW_GX_RECORD_MAX_ROWS", "100000")))
    # DuckDB memory_limit of the build (e.g. "2GB"); beyond it DuckDB spills to the build's .tmp
    # folder. Unset: DuckDB's default, 80% of RAM. On a machine shared with dashboards, a 10M-row
    # re-load peaked at 5.4 GB unbounded and 1.4 GB with "1GB", 11 s slower (docs/operate.md).
    memory_limit: str | None = field(default_factory=lambda: os.environ.get("CIW_MEMORY_LIMIT") or None)

    @property
    def data_dir(self) -> Path:
        # CIW_DATA points at another copy of data/ (catalog, documents, evidence, snapshots): tests
        # that edit the catalog work on their own copy, so parallel tests never see each other's edits
        return Path(os.environ.get("CIW_DATA", self.project_root / "data"))

    @property
    def catalog_dir(self) -> Path:
        return self.data_dir / "catalog"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshot"

    @property
    def schemas_dir(self) -> Path:
        return self.project_root / "schemas"

    @property
    def sql_dir(self) -> Path:
        return self.project_root / "sql"

    @property
    def expectations_dir(self) -> Path:
        return self.project_root / "expectations"

    @property
    def db_path(self) -> Path:
        return self.warehouse_dir / "ciw.duckdb"

    @property
    def lake_dir(self) -> Path:
        return self.warehouse_dir / "lake"

    @property
    def validations_dir(self) -> Path:
        return self.warehouse_dir / "validations"

    @property
    def raw_dir(self) -> Path:
        return self.warehouse_dir / "raw"

    @property
    def work_dir(self) -> Path:
        return self.warehouse_dir / ".work"

    @property
    def lock_path(self) -> Path:
        return self.warehouse_dir / ".publish.lock"


def settings() -> Settings:
    """Fresh settings (reads the environment each call, so tests can point CIW_HOME elsewhere)."""
    return Settings()
