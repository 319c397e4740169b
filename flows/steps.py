"""The pipeline's steps as plain functions; flows/pipeline.py wraps them as Prefect tasks.

Keeping the steps free of Prefect lets the tests and `ciw ingest` call exactly the code the
nightly flow runs, without a server.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa

from flows import commitments as commitments_mod
from flows import gx_record, staging
from flows.catalog import Catalog, catalog_files, evidence_path
from flows.config import Settings
from flows.contracts import conform, contract
from flows.duck import registered
from flows.staging import StagedBatch
from flows.load import Build, MergeCounts, pause_point
from flows.registry import Source, sources
from flows.stages import stage
from flows.sources.http import SourceError
from flows.validate import BatchRejected, default_params, evaluate, quarantine_split, suite_for

DERIVED = "derived"  # catalog source_id of indicators computed in SQL from other series (sql/derived/)


@dataclass(frozen=True)
class Extracted:
    source_id: str
    files: tuple[Path, ...]
    batch_id: str
    retrieved_at: datetime  # the newest retrieval in the batch
    mode: str  # snapshot, live or file
    per_file: dict[str, datetime] = field(default_factory=dict)  # file name -> retrieval, where files differ


@dataclass
class Validated:
    """One batch after validation: what to load, what to quarantine, and the counts for run_log."""

    source_id: str
    target_table: str
    batch_id: str
    retrieved_at: datetime
    rows_in: int
    rows_null: int
    quarantine: pa.Table
    good_rows: pa.Table | None = None  # small batches (re-submissions): the rows to load
    staged: StagedBatch | None = None  # a source batch: its staging file (flows/staging.py)
    rows_good: int = 0
    seen_indicators: pa.Table | None = None
    source_last_updated: date | None = None
    rejected: str | None = None
    rule_counts: dict[str, int] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    rules_hash: str | None = None
    skipped: bool = False
    failed: bool = False  # the input could not be fetched at all
    note: str | None = None  # what the run log should say about a batch that was not rejected

    @property
    def good(self) -> pa.Table:
        """The rows to load as Arrow (for tests and small batches; the loader reads them in place)."""
        if self.staged is None:
            return self.good_rows
        con = duckdb.connect()
        with self.staged.exposed(con):
            return conform(con.sql(_GOOD_ROWS).to_arrow_table(), self.target_table)

    @contextmanager
    def incoming(self, con: duckdb.DuckDBPyConnection) -> Iterator[int]:
        """Expose the rows to load as `_incoming` in `con` (the build); yields their number."""
        if self.staged is None:
            with registered(con, _incoming=self.good_rows):
                yield self.good_rows.num_rows
            return
        with self.staged.exposed(con):
            con.sql(f"CREATE OR REPLACE TEMP VIEW _incoming AS SELECT {staging.fact_columns()} FROM ({_GOOD_ROWS})")
            try:
                yield self.rows_good
            finally:
                con.sql("DROP VIEW IF EXISTS _incoming")

    def discard(self) -> None:
        """Remove the batch's staging file once it is loaded (or the run gave up)."""
        if self.staged is not None:
            self.staged.remove()
        self.staged = None


def nothing_to_load(source_id: str, target_table: str, **fields: Any) -> Validated:
    """A batch with no rows to load or quarantine: failed, skipped or rejected whole."""
    fields.setdefault("retrieved_at", utcnow())
    fields.setdefault("batch_id", "")
    return Validated(
        source_id=source_id, target_table=target_table, rows_in=fields.pop("rows_in", 0), rows_null=fields.pop("rows_null", 0),
        good_rows=contract(target_table).arrow_schema().empty_table(), quarantine=contract("quarantine").arrow_schema().empty_table(),
        **fields,
    )


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def content_hash(files: list[Path]) -> str:
    """Hash of the files' names and bytes (order-independent)."""
    h = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.name):
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def batch_id_for(source_id: str, files: list[Path]) -> str:
    """Same input bytes, same batch id: what makes a repeated load a no-op."""
    return f"{source_id}-{content_hash(files)}"


def rules_fingerprint(s: Settings, source: Source) -> str:
    """What a batch was checked against: a change here re-validates input that has not changed."""
    files = [
        s.expectations_dir / f"{source.target_table}.json",
        *[p for p in [s.expectations_dir / "sources" / f"{source.source_id}.json"] if p.exists()],
        s.sql_dir / "rules.yaml",
        s.sql_dir / "staging" / "observations.sql",
        s.sql_dir / "staging" / "batch.sql",
        *catalog_files(s),
    ]
    return content_hash(files)


def inputs_fingerprint(s: Settings) -> str:
    """Everything besides the sources' batches that a published state is built from: the catalog,
    documents and evidence register, and the SQL, contracts and suites. A night whose batches are
    all skipped and whose fingerprint matches the published one has nothing to build."""
    roots = [s.catalog_dir, s.documents_dir, evidence_path(s).parent, s.sql_dir, s.schemas_dir, s.expectations_dir]
    h = hashlib.sha256(s.storage_version.encode())
    for root in roots:
        for p in sorted(q for q in root.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(root.parent)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def published_inputs(s: Settings) -> str | None:
    from flows import lake

    return (lake.read_manifest(s.lake_dir) or {}).get("inputs")


def nothing_to_build(batches: list[Validated]) -> bool:
    """No batch has rows to merge: every source was skipped or could not be fetched."""
    return all(v.skipped or v.failed for v in batches)


@dataclass(frozen=True)
class PreviousLoad:
    """What the source's last successful load looked like, for skipping and for batch gates."""

    batch_id: str
    rules_hash: str | None
    rows: int  # observations with a value in that load's input
    series: tuple[str, ...]  # indicators the source has in the warehouse


def previous_loads(s: Settings) -> dict[str, PreviousLoad]:
    """Per source, its last successful load (read from the lake, the system of record)."""
    from flows import lake

    manifest = lake.read_manifest(s.lake_dir)
    log_files = lake.table_files(s.lake_dir, manifest, "run_log")
    if not log_files:
        return {}
    con = duckdb.connect()
    rows = con.sql(
        "SELECT source_id, arg_max(batch_id, finished_at), arg_max(rules_hash, finished_at), "
        "arg_max(rows_in - rows_null, finished_at) FILTER (WHERE status <> 'skipped') "
        "FROM read_parquet($f) WHERE status IN ('loaded', 'unchanged', 'skipped') GROUP BY source_id",
        params={"f": log_files},
    ).fetchall()
    fact_files = lake.table_files(s.lake_dir, manifest, "fact_observation")
    series: dict[str, tuple[str, ...]] = {}
    if fact_files:
        for source_id, ids in con.sql(
            "SELECT source_id, list(DISTINCT indicator_id ORDER BY indicator_id) FROM read_parquet($f) GROUP BY 1",
            params={"f": fact_files},
        ).fetchall():
            series[source_id] = tuple(ids)
    return {r[0]: PreviousLoad(r[1], r[2], int(r[3] or 0), series.get(r[0], ())) for r in rows}


def gate_params(extracted: Extracted, previous: PreviousLoad | None) -> dict[str, Any]:
    """Parameters of the batch gates: only whole-source batches are compared with the last load;
    a single file (ciw ingest, the inbox) is partial by nature."""
    from flows.validate import gate_setting

    params = default_params()
    if extracted.mode not in ("snapshot", "live"):
        return params
    suite = suite_for("fact_observation", extracted.source_id)
    max_age = gate_setting(suite, "source_not_stale", "max_age_days", 400)
    params["oldest_acceptable_update"] = (extracted.retrieved_at - timedelta(days=max_age)).date()
    if previous is not None:
        share = gate_setting(suite, "row_count_not_collapsed", "max_drop_share", 0.5)
        params["min_rows_vs_previous"] = int(previous.rows * (1 - share))
        params["previous_series"] = list(previous.series)
    return params


def failed(source: Source, message: str) -> Validated:
    """A source whose extraction failed (after retries): recorded, and the other sources still load."""
    return nothing_to_load(source.source_id, source.target_table, rejected=f"extract failed: {message}", failed=True)


def skipped(source: Source, extracted: Extracted, rules_hash: str) -> Validated:
    """A batch whose input and rules match the last successful load: nothing to do."""
    return nothing_to_load(
        source.source_id, source.target_table, batch_id=extracted.batch_id, retrieved_at=extracted.retrieved_at,
        rules_hash=rules_hash, skipped=True,
    )


# --- extract --------------------------------------------------------------------------------------
def extract(s: Settings, source: Source, *, live: bool, run_id: str) -> Extracted:
    with stage("extract"):
        return _extract(s, source, live=live, run_id=run_id)


def _extract(s: Settings, source: Source, *, live: bool, run_id: str) -> Extracted:
    pause_point("extract")
    if live:
        dest = s.raw_dir / source.source_id / run_id
        dest.mkdir(parents=True, exist_ok=True)
        files = source.fetch_live(s, dest)
        return Extracted(source.source_id, tuple(files), batch_id_for(source.source_id, files), utcnow(), "live")
    files = source.snapshot_files(s)
    captured = source.snapshot_retrieved_at(s)
    per_file = {p.name: captured[p.name] for p in files}
    return Extracted(source.source_id, tuple(files), batch_id_for(source.source_id, files), max(per_file.values()), "snapshot", per_file)


def extract_file(path: Path, source: Source) -> Extracted:
    return Extracted(source.source_id, (path,), batch_id_for(source.source_id, [path]), utcnow(), "file")


# --- validate -------------------------------------------------------------------------------------
def _validate_table(
    s: Settings, table: str, params: dict[str, Any], *, source_id: str, file: str, batch_id: str,
    retrieved_at: datetime, con: duckdb.DuckDBPyConnection,
) -> tuple[pa.Table, dict[str, int]]:
    """Batch gates and row rules in DuckDB over the relation `batch` in `con`, GX for the record;
    returns (quarantine rows, failures per rule) and leaves the failing row ids in `failed_rows`."""
    suite = suite_for(table, source_id)
    with stage("validate"):
        failed, counts = evaluate(con, suite, params, source=source_id, file=file)
    with stage("gx_record"):
        gx_record.record(s, table, batch_id, con, suite, params, counts)
    key = "concat_ws('|', " + ", ".join(f'CAST(b."{k}" AS VARCHAR)' for k in contract(table).primary_key) + ")"
    with stage("quarantine"), registered(con, failed=failed):
        quarantine = con.sql(
            (s.sql_dir / "load" / "quarantine_rows.sql").read_text(encoding="utf-8").replace("{record_key}", key),
            params={"batch_id": batch_id, "source_id": source_id, "target_table": table, "retrieved_at": retrieved_at},
        ).to_arrow_table()
    return quarantine, counts


_GOOD_ROWS = "SELECT * FROM batch ANTI JOIN failed_rows USING (row_id)"


def validate_source_batch(
    s: Settings, source: Source, extracted: Extracted, catalog: Catalog, previous: PreviousLoad | None = None
) -> Validated:
    """Parse the source's files, stage them to the fact contract, and split good from bad rows.

    The parsed rows are written once, normalised, into the batch's staging file (flows/staging.py);
    the rules scan them there and only failing row ids and quarantine rows are materialised; the
    loader inserts the good rows from the same file.
    """
    started = datetime.now(timezone.utc)
    constants = {"source_id": source.source_id, "publisher": source.publisher, "licence": source.licence,
                 "address": source.address, "batch_id": extracted.batch_id}
    con = duckdb.connect()
    try:
        with stage("parse"):
            rows = source.parse_rows(con, list(extracted.files)) if source.parse_rows else None
            if rows is None:
                rows = staging.from_arrow(con, source.parse(con, list(extracted.files)))
            staged = staging.write(
                s, source.source_id, rows, con, retrievals=extracted.per_file, default_retrieved_at=extracted.retrieved_at,
                catalog_indicators=catalog.indicators, constants=constants,
            )
    except SourceError as exc:  # unreadable input: the whole batch is rejected, nothing loads
        return nothing_to_load(
            source.source_id, source.target_table, batch_id=extracted.batch_id, retrieved_at=extracted.retrieved_at,
            rejected=str(exc), started_at=started,
        )
    try:
        return _validate_staged(s, source, extracted, catalog, previous, staged, con, started)
    except BaseException:
        staged.remove()  # a batch that will not be loaded takes its file with it
        raise
    finally:
        con.close()


def _validate_staged(s: Settings, source: Source, extracted: Extracted, catalog: Catalog, previous: PreviousLoad | None,
                     staged: StagedBatch, con: duckdb.DuckDBPyConnection, started: datetime) -> Validated:
    with stage("validate"):
        rows_in, rows_null, last_updated, seen = staging.summary(staged, con)
    params = {**gate_params(extracted, previous), "known_countries": catalog.country_codes}
    files = ", ".join(p.name for p in extracted.files[:3]) + (" ..." if len(extracted.files) > 3 else "")
    base = dict(
        batch_id=extracted.batch_id, retrieved_at=extracted.retrieved_at, rows_in=rows_in, rows_null=rows_null,
        seen_indicators=seen, source_last_updated=last_updated, started_at=started,
    )
    with staged.exposed(con):
        try:
            quarantine, counts = _validate_table(
                s, source.target_table, params, source_id=source.source_id, file=files,
                batch_id=extracted.batch_id, retrieved_at=extracted.retrieved_at, con=con,
            )
        except BatchRejected as exc:
            staged.remove()
            return nothing_to_load(source.source_id, source.target_table, **base, rejected=str(exc))
        staged.failed_row_ids = con.sql("SELECT row_id FROM failed_rows").to_arrow_table()
    return Validated(
        source_id=source.source_id, target_table=source.target_table, **base, quarantine=quarantine, rule_counts=counts,
        staged=staged, rows_good=rows_in - rows_null - staged.failed_row_ids.num_rows,
    )


# --- reference data: catalog and commitments ------------------------------------------------------
def _with_row_ids(t: pa.Table, file: str, rows: pa.Array | None = None) -> pa.Table:
    """Row ids and provenance columns the validator needs on a reference table."""
    ids = pa.array(range(1, t.num_rows + 1), pa.int64())
    t = t.append_column("row_id", ids)
    if "source_file" in t.column_names:  # catalog tables know their file and line already
        return t
    t = t.append_column("source_file", pa.repeat(pa.scalar(file), t.num_rows))
    return t.append_column("source_row", rows if rows is not None else ids)


def extract_commitments(s: Settings) -> pa.Table:
    tables = [commitments_mod.extract_commitments(p) for p in sorted(s.documents_dir.glob("*.md"))]
    return pa.concat_tables(tables) if tables else None


def load_reference(s: Settings, build: Build, catalog: Catalog, commitments: pa.Table) -> dict[str, int]:
    """Validate and load countries, indicators, commitments and links (small, bundled, every run)."""
    con = duckdb.connect()
    quarantined: dict[str, int] = {}

    def check(table: str, rows: pa.Table, origin: Path, params: dict[str, Any], source_id: str = "catalog",
              source_rows: pa.Array | None = None) -> pa.Table:
        """Validate one reference table from `origin` (a file or a folder); quarantine its bad rows."""
        inputs = [origin] if origin.is_file() else sorted(origin.glob("*"))
        file = str(origin.relative_to(s.data_dir.parent))  # data/catalog/..., wherever data/ lives
        with registered(con, batch=_with_row_ids(rows, file, source_rows)):
            bad, _ = _validate_table(
                s, table, params, source_id=source_id, file=file,
                batch_id=batch_id_for(source_id, inputs), retrieved_at=max(map(_file_time, inputs)), con=con,
            )
            good = con.sql(_GOOD_ROWS).to_arrow_table()
        if bad.num_rows:
            build.insert("quarantine", bad, ignore_existing=True)
        quarantined[table] = bad.num_rows
        return good

    countries = check("dim_country", catalog.countries, s.catalog_dir / "countries.csv", {})
    build.replace_rows("dim_country", conform(countries, "dim_country"))

    indicators = check("dim_indicator", catalog.indicators, s.catalog_dir / "indicators", {"known_sources": [*sorted(sources()), DERIVED]})
    build.replace_rows(
        "dim_indicator", conform(indicators, "dim_indicator"),
        where="is_catalogued OR list_contains($ids, indicator_id)", params={"ids": catalog.indicator_ids},
    )

    with registered(con, links=catalog.links, extracted=commitments):
        measured = con.sql("SELECT * EXCLUDE (key_phrase) FROM links WHERE indicator_id IS NOT NULL").to_arrow_table()
        dim_commitment = con.sql((s.sql_dir / "load" / "dim_commitment.sql").read_text(encoding="utf-8")).to_arrow_table()
    good_commitments = check(
        "dim_commitment", dim_commitment, s.documents_dir, {}, source_id="commitments",
        source_rows=dim_commitment.column("sentence_index").cast(pa.int64()),
    )
    build.replace_rows("dim_commitment", conform(good_commitments, "dim_commitment"))

    bridge = check(
        "bridge_commitment_indicator", measured, s.catalog_dir / "links",
        {"commitment_ids": good_commitments.column("commitment_id").to_pylist(), "indicator_ids": indicators.column("indicator_id").to_pylist()},
    )
    build.replace_rows("bridge_commitment_indicator", conform(bridge, "bridge_commitment_indicator"))

    # the progress method and the evidence register
    known = {"commitment_ids": good_commitments.column("commitment_id").to_pylist(),
             "indicator_ids": indicators.column("indicator_id").to_pylist()}
    progress = s.catalog_dir / "progress"
    build.replace_rows("progress_thresholds", conform(
        check("progress_thresholds", catalog.thresholds, progress / "thresholds.csv", {}), "progress_thresholds"))
    build.replace_rows("progress_targets", conform(
        check("progress_targets", catalog.targets, progress / "targets.csv", known), "progress_targets"))
    build.replace_rows("commitment_evidence", conform(
        check("commitment_evidence", catalog.evidence, evidence_path(s), known, source_id="evidence"), "commitment_evidence"))
    return quarantined


def _file_time(path: Path) -> datetime:
    """Reference data is 'retrieved' when the bundled file was last changed (stable across runs)."""
    if path.is_file():
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None, microsecond=0)
    return datetime(1970, 1, 1)


def _record_structure() -> str:
    """json_transform structure of a staged fact row: the contract's columns and the raw value text."""
    cols = {c.name: c.type for c in contract("fact_observation").columns} | {"value_text": "VARCHAR"}
    return json.dumps(cols)


def validate_resubmission(s: Settings, build: Build, source_id: str, rule: str | None, catalog: Catalog) -> Validated:
    """Quarantined rows still held for a source, rebuilt from their records and validated again
    against the suite and catalog as they are now (the fix a user made is what lets them pass)."""
    with registered(build.con, catalog_indicators=catalog.indicators):
        staged = build.con.sql(
            (s.sql_dir / "quarantine" / "resubmit_batch.sql").read_text(encoding="utf-8").replace("{record_columns}", _record_structure()),
            params={"source": source_id, "rule": rule},
        ).to_arrow_table()
    held = nothing_to_load(
        source_id, "fact_observation", batch_id=f"resubmit-{build.run_id}", rows_in=staged.num_rows,
        note=f"re-submitted from quarantine (rule: {rule or 'any'})",
    )
    if staged.num_rows == 0:
        return held
    params = {**default_params(), "known_countries": catalog.country_codes}
    good, _, held.rule_counts = quarantine_split(staged, suite_for("fact_observation", source_id), params, source=source_id, file="quarantine")
    # rows still failing are already in quarantine under their original batch, file and row
    held.good_rows = conform(good, "fact_observation")
    return held


# --- load -----------------------------------------------------------------------------------------
def load_batch(build: Build, v: Validated) -> MergeCounts:
    if v.rejected or v.skipped:
        return MergeCounts(0, 0, 0)
    with stage("load"), v.incoming(build.con) as rows:
        counts = build.merge_observations(rows, v.source_id)
        build.release_quarantined(v.batch_id)
    if v.seen_indicators is not None:
        build.add_uncatalogued_indicators(v.seen_indicators)
    if v.quarantine.num_rows:
        build.insert("quarantine", v.quarantine, ignore_existing=True)
    return counts


def status_of(v: Validated, counts: MergeCounts) -> str:
    return "failed" if v.failed else "rejected" if v.rejected else "skipped" if v.skipped else "loaded" if counts.loaded else "unchanged"


def run_log_row(run_id: str, v: Validated, counts: MergeCounts) -> pa.Table:
    row = {
        "run_id": run_id, "source_id": v.source_id, "batch_id": v.batch_id, "status": status_of(v, counts),
        "rules_hash": v.rules_hash,
        # microseconds: concurrent runs finishing in the same second must still order
        "started_at": v.started_at.replace(tzinfo=None), "finished_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "rows_in": v.rows_in, "rows_null": v.rows_null, "rows_loaded": counts.loaded,
        "rows_unchanged": counts.unchanged, "rows_quarantined": v.quarantine.num_rows,
        "rows_revised": counts.changed, "revisions_flagged": counts.flagged,
        "source_last_updated": v.source_last_updated, "message": v.rejected or v.note,
    }
    return pa.Table.from_pylist([row], schema=contract("run_log").arrow_schema())
