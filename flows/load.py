"""The one loader: builds the next warehouse state in a fresh file and publishes it atomically.

A run opens a new DuckDB file under warehouse/.work/, filled from the lake's current version (the
system of record), or a copy of the DuckDB file published with that version when it was built from
the same catalog, SQL and contracts; it merges the run's validated batches into it, builds the
marts and checks them, writes a new lake version, and only then renames the file over
warehouse/ciw.duckdb. Readers holding the old file keep reading it; a crash before the rename
leaves the published state as it was; and once replaced rows and marts leave half of a copied file
free, the next build starts again from the lake, which writes a compact file.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa

from flows import lake, staging
from flows.config import Settings
from flows.contracts import Contract, contracts
from flows.duck import registered
from flows.stages import stage

# Tables of the warehouse, in build order; views come from sql/marts/.
TABLES = [
    "dim_country",
    "dim_indicator",
    "dim_commitment",
    "bridge_commitment_indicator",
    "progress_thresholds",
    "progress_targets",
    "commitment_evidence",
    "fact_observation",
    "fact_observation_history",
    "quarantine",
    "run_log",
]


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    changed: int  # revised: the old values went to fact_observation_history
    unchanged: int
    flagged: int = 0  # revisions larger than the review share

    @property
    def loaded(self) -> int:
        return self.inserted + self.changed


class PublishError(Exception):
    """The new state failed a check; nothing was published."""


@contextmanager
def publish_lock(s: Settings, timeout_s: float | None = None) -> Iterator[None]:
    """Serialise builds: two runs must not both start from the same state and race to publish."""
    timeout_s = s.publish_lock_timeout_s if timeout_s is None else timeout_s
    s.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(s.lock_path, "a+") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another ciw run has held {s.lock_path} for {timeout_s:.0f}s")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sql(s: Settings, name: str) -> str:
    return (s.sql_dir / name).read_text(encoding="utf-8")


def classify_in_one_join(held: int, rows: int) -> bool:
    """Whether a batch of `rows` from a source that holds `held` rows is mostly known keys (a
    re-load): then one LEFT JOIN classifies it and copies only new and revised rows; a batch of
    mostly new keys (a first load) goes straight in rather than through a temporary copy."""
    return rows > 0 and 2 * held >= rows


class Build:
    """The next warehouse state, being built in warehouse/.work/<run_id>.duckdb."""

    def __init__(self, s: Settings, run_id: str, inputs: str | None = None):
        self.s, self.run_id, self.inputs = s, run_id, inputs
        s.work_dir.mkdir(parents=True, exist_ok=True)
        _clean_work_dir(s)
        self.path = s.work_dir / f"{run_id}.duckdb"
        self.timings: dict[str, float] = {}
        config = {"storage_compatibility_version": s.storage_version}
        if s.memory_limit:
            config["memory_limit"] = s.memory_limit
        self.contracts: dict[str, Contract] = contracts()
        manifest = lake.read_manifest(s.lake_dir)
        self._manifest = manifest
        # built from the same catalog, SQL, contracts, suites and storage version as the current version
        self._same_inputs = bool(manifest) and self.inputs is not None and manifest.get("inputs") == self.inputs
        self._revised_sources: set[str] = set()  # partitions whose rows a revision replaced
        previous = self._reusable(manifest)
        self.from_previous_file = previous is not None
        if previous is not None:
            shutil.copyfile(previous, self.path)
        self.con = duckdb.connect(str(self.path), config=config)
        if previous is not None and (self._mostly_free() or not self._only_ours()):
            self.con.close()
            self.path.unlink()
            self.from_previous_file = False
            self.con = duckdb.connect(str(self.path), config=config)
        if self.from_previous_file:
            # the same state as the lake's current version, but for the run_log rows that runs which
            # changed nothing appended to the lake alone (record_runs_only)
            self.con.sql("DELETE FROM run_log")
            self._fill_from_lake(manifest, "run_log")
            return
        for name in TABLES:
            self.con.sql(self.contracts[name].create_sql())
            self._fill_from_lake(manifest, name)

    def _reusable(self, manifest: dict | None) -> Path | None:
        """The DuckDB file published with the lake's current version, when it can start this build (the
        same inputs fingerprint). Copying it spares re-reading every row from Parquet (10M rows: 10 s)."""
        if not self._same_inputs:
            return None
        path = version_path(self.s, manifest["version"])
        return path if path.is_file() else None

    def _mostly_free(self) -> bool:
        """A file copied run after run keeps the blocks of replaced rows and marts; once they are
        half of it, the build starts again from the lake (which writes a compact file)."""
        total, free = self.con.sql("SELECT total_blocks, free_blocks FROM pragma_database_size() WHERE database_name = current_database()").fetchall()[0]
        return total > 0 and free > total / 2

    def _only_ours(self) -> bool:
        """Whether the copied file holds nothing but what a build creates (someone who opened the
        published file read-write and added a table must not have it carried into the next one)."""
        ours = set(TABLES)
        for path in [*(self.s.sql_dir / "derived").glob("*.sql"), *(self.s.sql_dir / "marts").glob("*.sql")]:
            ours |= set(re.findall(r"CREATE OR REPLACE (?:TABLE|VIEW) (\w+)", path.read_text(encoding="utf-8")))
        held = {r[0] for r in self.con.sql(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal").fetchall()}
        return held <= ours

    def _fill_from_lake(self, manifest: dict | None, name: str) -> None:
        files = lake.table_files(self.s.lake_dir, manifest, name)
        if not files:
            return
        # Columns the contract gained since the files were written come back null; columns it
        # dropped are left behind.
        have = {r[0] for r in self.con.sql("DESCRIBE SELECT * FROM read_parquet($f, hive_partitioning=false)", params={"f": files}).fetchall()}
        cols = ", ".join(f'"{n}"' for n in self.contracts[name].column_names if n in have)
        self.con.sql(
            f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM read_parquet($files, hive_partitioning=false)',
            params={"files": files},
        )

    # --- writes -------------------------------------------------------------------------------
    def replace_rows(self, table: str, rows: pa.Table, where: str = "true", params: dict | None = None) -> None:
        """Replace the rows of `table` matching `where` by `rows` (catalogs, documents)."""
        self.con.sql(f'DELETE FROM "{table}" WHERE {where}', params=params or {})
        self.insert(table, rows)

    def insert(self, table: str, rows: pa.Table, *, ignore_existing: bool = False) -> None:
        """Add `rows`; with ignore_existing, only those whose key the table (or an earlier row of
        `rows`) does not hold yet (quarantine: a row quarantined again stays as first recorded)."""
        # columns the rows lack (e.g. released_in_run on fresh quarantine rows) default to null
        cols = ", ".join(f'"{n}"' for n in self.contracts[table].column_names if n in rows.column_names)
        source = "_rows"
        if ignore_existing:
            key = ", ".join(f'"{k}"' for k in self.contracts[table].primary_key)
            source = (f'(SELECT * FROM _rows ANTI JOIN "{table}" USING ({key}) '
                      f'QUALIFY row_number() OVER (PARTITION BY {key}) = 1)')
        with registered(self.con, _rows=rows):
            self.con.sql(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM {source}')

    def merge_observations(self, rows: int, source_id: str, *, one_join: bool | None = None) -> MergeCounts:
        """Upsert the `rows` validated observations of `source_id` exposed as `_incoming`: new keys
        insert, changed values replace, equal values stay.

        Equal rows keep their original batch and retrieval time, so loading the same input twice
        changes nothing; keys absent from the batch stay as they were (nothing loaded is lost).
        A source already holding about as many rows as the batch brings is re-loading what it has
        (classified in one join, only new and revised rows copied); otherwise most rows are new and
        go straight in. Either way gives the same result (`one_join` forces the choice, for tests);
        only the cost differs.
        """
        if one_join is None:
            held = self.con.sql("SELECT count(*) FROM fact_observation WHERE source_id = $s", params={"s": source_id}).fetchall()[0][0]
            one_join = classify_in_one_join(held, rows)
        if one_join:
            # DuckDB estimates the validated batch (a view with an anti join) at a tenth of its rows
            # and would build its hash table on the batch, every column of 10M rows (5.2 GB peak);
            # the join as written builds on the published keys and values (2.1 GB)
            self.con.sql("SET disabled_optimizers = 'build_side_probe_side'")
            try:
                self.con.sql(_sql(self.s, "load/classify_batch.sql"))
            finally:
                self.con.sql("RESET disabled_optimizers")
            self.con.sql(_sql(self.s, "load/revised_provenance.sql"))
        else:
            self.con.sql(_sql(self.s, "load/classify_revisions.sql"))
        changed, flagged = self.con.sql(
            "SELECT count(*) FILTER (WHERE revised), count(*) FILTER (WHERE revised AND coalesce(change_share > $share, true)) "
            "FROM _changed",
            params={"share": self.s.revision_review_share},
        ).fetchall()[0]
        self.con.sql(_sql(self.s, "load/keep_revised_values.sql"), params={"review_share": self.s.revision_review_share})
        self.con.sql(_sql(self.s, "load/delete_revised_observations.sql"))
        written = self.con.execute(_sql(self.s, "load/insert_classified.sql" if one_join else "load/merge_observations.sql")).fetchall()[0][0]
        self._revised_sources |= {r[0] for r in self.con.sql(
            "SELECT source_id FROM _changed WHERE revised UNION SELECT old_source_id FROM _changed WHERE revised").fetchall()}
        self.con.sql("DROP TABLE _changed")
        counts = (written - changed, changed, rows - written, flagged)
        return MergeCounts(*counts)

    def release_quarantined(self, batch_id: str) -> None:
        """Mark earlier quarantine rows of the (batch, file, row)s in `_incoming` as released in this
        run. Only rows quarantined under the same batch id can match, so a new batch costs one count."""
        held = self.con.sql(
            "SELECT count(*) FROM quarantine WHERE released_in_run IS NULL AND target_table = 'fact_observation' "
            "AND (batch_id = $b OR starts_with($b, 'resubmit-'))", params={"b": batch_id},
        ).fetchall()[0][0]
        if held:
            self.con.sql(_sql(self.s, "load/release_quarantined.sql"), params={"run_id": self.run_id})

    def add_uncatalogued_indicators(self, seen: pa.Table) -> None:
        """Keep series a source delivered that the catalog lacks, under the source's own name."""
        with registered(self.con, _seen=seen):
            self.con.sql(_sql(self.s, "load/uncatalogued_indicators.sql"))

    # --- publish ------------------------------------------------------------------------------
    def row_counts(self) -> dict[str, int]:
        return {t: self.con.sql(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in TABLES}

    def finish(self) -> dict[str, int]:
        """Build marts, check, write the lake version, swap the file in. Returns rows per table."""
        t0 = time.perf_counter()
        with stage("marts"):
            self._build_marts()
        counts = self.row_counts()
        t1 = time.perf_counter()
        with stage("publish"):
            pause_point("write_lake")
            files = lake.write_version(self.con, self.s.lake_dir, self.run_id, [self.contracts[t] for t in TABLES],
                                       reuse=self._unchanged_partitions())
            self.con.sql("CHECKPOINT")
            self.con.close()
            t2 = time.perf_counter()
            pause_point("before_swap")
            lake.publish_version(self.s.lake_dir, self.run_id, files, keep=self.s.versions_kept, inputs=self.inputs)
            _swap_into_place(self.path, self.s, self.run_id)
        t3 = time.perf_counter()
        self.timings = {"marts_and_checks": t1 - t0, "write_lake_and_file": t2 - t1, "publish_swap": t3 - t2}
        return counts

    def _unchanged_partitions(self) -> dict[str, dict[str, dict]]:
        """Per partitioned table, the previous version's file of each partition this run did not
        change: {table: {"source_id=x": manifest entry}}. A partition changed if a revision replaced
        one of its rows, or if its row count differs (rows are only ever added otherwise). Only
        when the contracts are those the files were written with (the inputs fingerprint)."""
        if not self._same_inputs:
            return {}
        out: dict[str, dict[str, dict]] = {}
        for name in TABLES:
            c = self.contracts[name]
            if len(c.partition_by) != 1:  # fact_observation and its history, by source
                continue
            previous: dict[str, list[dict]] = {}
            for entry in self._manifest["tables"].get(name, []):
                previous.setdefault(Path(entry["path"]).parent.name, []).append(entry)
            column = c.partition_by[0]
            for value, rows in self.con.sql(f'SELECT "{column}", count(*) FROM "{name}" GROUP BY ALL').fetchall():
                folder = f"{column}={value}"
                held = previous.get(folder, [])
                if len(held) == 1 and held[0]["rows"] == rows and str(value) not in self._revised_sources:
                    out.setdefault(name, {})[folder] = held[0]
        return out

    def _build_marts(self) -> None:
        """Derived views and marts, every description, then the integrity checks."""
        for path in [*sorted((self.s.sql_dir / "derived").glob("*.sql")), *sorted((self.s.sql_dir / "marts").glob("*.sql"))]:
            self.con.sql(path.read_text(encoding="utf-8"))
        # one round trip for all descriptions (a few hundred statements)
        self.con.execute(";\n".join(
            stmt for c in self.contracts.values() if c.kind != "staging"  # staging: a parser's output, not a table
            for stmt in c.comment_sql()
        ))
        self._check()

    def abort(self) -> None:
        try:
            self.con.close()
        finally:
            self.path.unlink(missing_ok=True)
            Path(str(self.path) + ".wal").unlink(missing_ok=True)

    def _check(self) -> None:
        """Integrity queries on the new state; any row returned blocks the publish."""
        problems = self.con.sql(_sql(self.s, "checks/integrity.sql")).fetchall()
        if problems:
            raise PublishError("integrity check failed: " + "; ".join(f"{name}: {n} rows" for name, n in problems))
        self.con.sql("SELECT count(*) FROM mart_commitment_progress").fetchall()


def record_runs_only(s: Settings, rows: pa.Table) -> None:
    """A run that changed nothing: add its run_log rows to the current lake version, no rebuild.
    The published DuckDB file shows them from the next publish on (it is rebuilt from the lake)."""
    con = duckdb.connect()
    with registered(con, _runs=rows):
        lake.append_to_current(con, s.lake_dir, "run_log", f"unchanged-{rows.column('run_id')[0]}", "SELECT * FROM _runs")


def _versions_dir(s: Settings) -> Path:
    return s.warehouse_dir / "versions"


def _swap_into_place(new_file: Path, s: Settings, run_id: str) -> None:
    """Rename the new file over the published one; keep a hard link to it as a version."""
    versions = _versions_dir(s)
    versions.mkdir(exist_ok=True)
    with open(new_file, "rb") as fh:
        os.fsync(fh.fileno())
    kept = versions / f"ciw-{run_id}.duckdb"
    kept.unlink(missing_ok=True)
    os.link(new_file, kept)
    os.replace(new_file, s.db_path)
    _prune_db_versions(s)


def _prune_db_versions(s: Settings) -> None:
    """Keep the DuckDB versions the lake keeps, so every kept version can be rolled back to."""
    manifest = lake.read_manifest(s.lake_dir) or {}
    keep = set(manifest.get("history", []))
    for f in _versions_dir(s).glob("ciw-*.duckdb"):
        if f.stem.removeprefix("ciw-") not in keep:
            f.unlink(missing_ok=True)


def published_versions(s: Settings) -> list[str]:
    """Run ids of the publishes that can be queried or rolled back to, oldest first."""
    manifest = lake.read_manifest(s.lake_dir) or {}
    return [v for v in manifest.get("history", []) if (_versions_dir(s) / f"ciw-{v}.duckdb").exists()]


def version_path(s: Settings, run_id: str) -> Path:
    return _versions_dir(s) / f"ciw-{run_id}.duckdb"


def rollback(s: Settings, to: str | None = None) -> str:
    """Make the previous (or a named) publish current again, both DuckDB file and lake."""
    with publish_lock(s):
        versions = published_versions(s)
        current = (lake.read_manifest(s.lake_dir) or {}).get("version")
        if to is None:
            older = [v for v in versions if current is None or v < current]
            if not older:
                raise ValueError("no earlier publish is kept to roll back to")
            to = older[-1]
        elif to not in versions:
            raise ValueError(f"publish {to} is not kept; kept: {', '.join(versions) or 'none'}")
        tmp = s.warehouse_dir / f".rollback-{to}.duckdb"
        tmp.unlink(missing_ok=True)
        os.link(version_path(s, to), tmp)
        lake.restore_version(s.lake_dir, to)
        os.replace(tmp, s.db_path)
        _prune_db_versions(s)
        return to


def pause_point(name: str) -> None:
    """Fault-injection hook for the crash tests: with CIW_PAUSE_AT=<name> the run announces that it
    reached <name> (a marker file) and waits there, so a test can SIGKILL it at that exact point."""
    if os.environ.get("CIW_PAUSE_AT") != name:
        return
    marker = Path(os.environ.get("CIW_PAUSE_MARKER", "/tmp/ciw-paused"))
    marker.write_text(name, encoding="utf-8")
    time.sleep(float(os.environ.get("CIW_PAUSE_SECONDS", "60")))


def _clean_work_dir(s: Settings) -> None:
    """Remove what runs that died left behind (the publish lock is held, so none is live)."""
    lake.prune_versions(s.lake_dir)
    staging.remove_stale(s)
    for p in s.warehouse_dir.glob(".rollback-*.duckdb"):
        p.unlink(missing_ok=True)
    for p in s.work_dir.iterdir():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
