"""The Prefect flows: the nightly pipeline and the one-file ingest, assembled from flows/steps.py.

Extraction is the only step that touches the network, so it is the one with retries. Everything
from reading the previous state to publishing runs under the publish lock, so two runs never
build from the same state.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from flows import events, gx_record, steps
from flows.catalog import Catalog, read_catalog
from flows.config import Settings, settings
from flows.load import Build, MergeCounts, pause_point, publish_lock, record_runs_only
from flows.registry import source as get_source
from flows.registry import sources
from flows.stages import stage


@dataclass
class RunSummary:
    run_id: str
    warehouse: str
    tables: dict[str, int]
    sources: list[dict] = field(default_factory=list)
    quarantined: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per publish stage
    data_docs: str | None = None  # warehouse/docs/index.html, when it could be built
    dashboard: str | None = None  # warehouse/dashboard/index.html, when it could be built
    published: bool = True  # False: nothing had changed, the published state stands

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id() -> str:
    """Sortable by time, unique per run; the Prefect flow run id suffix ties it to the UI."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fr = flow_run.get_id()
    return f"{stamp}-{(str(fr) if fr else uuid.uuid4().hex)[:8]}"


@task(name="extract-commitments")
def extract_commitments_task(s: Settings) -> pa.Table:
    return steps.extract_commitments(s)


@task(name="read-catalog")
def read_catalog_task(s: Settings) -> Catalog:
    return read_catalog(s)


@task(name="extract", retries=3, retry_delay_seconds=[5, 30, 120], retry_jitter_factor=0.5)
def extract_task(s: Settings, source_id: str, live: bool, run_id: str) -> steps.Extracted:
    return steps.extract(s, get_source(source_id), live=live, run_id=run_id)


@task(name="validate")
def validate_task(
    s: Settings, extracted: steps.Extracted, catalog: Catalog, previous: steps.PreviousLoad | None = None,
    full_refresh: bool = False,
) -> steps.Validated:
    """Validate a batch, unless its input and rules are those of the source's last good load."""
    source = get_source(extracted.source_id)
    rules_hash = steps.rules_fingerprint(s, source)
    if not full_refresh and previous is not None and (previous.batch_id, previous.rules_hash) == (extracted.batch_id, rules_hash):
        return steps.skipped(source, extracted, rules_hash)
    v = steps.validate_source_batch(s, source, extracted, catalog, previous)
    v.rules_hash = rules_hash
    return v


def _source_summary(v: steps.Validated, counts: MergeCounts) -> dict:
    status = steps.status_of(v, counts)
    return {
        "source_id": v.source_id, "batch_id": v.batch_id,
        "status": "ok" if status in ("loaded", "unchanged") else status,
        "rows_in": v.rows_in, "rows_null": v.rows_null, "rows_loaded": counts.loaded,
        "rows_unchanged": counts.unchanged, "rows_revised": counts.changed, "revisions_flagged": counts.flagged,
        "rows_quarantined": v.quarantine.num_rows, "message": v.rejected or v.note,
    }


def load_and_publish(
    s: Settings, run_id: str, catalog: Catalog, commitments: pa.Table, batches: list[steps.Validated],
    resubmit: tuple[str, str | None] | None = None,
) -> RunSummary:
    """Build the next state from the lake, merge every batch, build marts, publish atomically.

    `resubmit` = (source, rule or None) adds the quarantined rows of that source that pass now; they
    are read from the state being built, so under the lock.
    """
    logger = get_run_logger()
    try:
        return _load_and_publish(s, run_id, catalog, commitments, batches, resubmit, logger)
    finally:
        for v in batches:
            v.discard()  # each batch's staging file, loaded or not (a lock timeout too)


def _load_and_publish(
    s: Settings, run_id: str, catalog: Catalog, commitments: pa.Table, batches: list[steps.Validated],
    resubmit: tuple[str, str | None] | None, logger,  # noqa: ANN001 - Prefect's run logger
) -> RunSummary:
    with publish_lock(s):
        with stage("prepare"):
            inputs = steps.inputs_fingerprint(s)
            quiet = not resubmit and steps.nothing_to_build(batches) and steps.published_inputs(s) == inputs
        if quiet:
            return _record_quiet_run(s, run_id, batches)
        with stage("load"):  # the next state starts as a copy of the published lake
            build = Build(s, run_id, inputs)
        try:
            with stage("load"):
                ref_quarantined = steps.load_reference(s, build, catalog, commitments)
                if resubmit:
                    batches = [*batches, steps.validate_resubmission(s, build, *resubmit, catalog)]
                per_source = []
                pause_point("load")
                for v in batches:
                    counts = steps.load_batch(build, v)
                    build.insert("run_log", steps.run_log_row(run_id, v, counts))
                    per_source.append(_source_summary(v, counts))
                    if v.rejected:
                        logger.error(v.rejected)
                    v.discard()  # its rows are in the build now: the staging file can go
            tables = build.finish()
        except BaseException:
            build.abort()
            gx_record.discard()
            raise
    quarantined = sum(p["rows_quarantined"] for p in per_source) + sum(ref_quarantined.values())
    summary = RunSummary(
        run_id=run_id, warehouse=str(s.db_path), tables=tables, sources=per_source, quarantined=quarantined,
        timings={k: round(v, 4) for k, v in build.timings.items()},
    )
    with stage("gx_record"):
        gx_ok = _wait_for_gx_records()
    with stage("data_docs"):
        summary.data_docs = build_docs(s) if gx_ok else None
    with stage("dashboard"):
        summary.dashboard = build_dashboard_page(s)
    events.emit_published(summary.to_dict())
    for src in per_source:
        if src["rows_quarantined"]:
            events.emit_quarantined(run_id, src)
    return summary


def _record_quiet_run(s: Settings, run_id: str, batches: list[steps.Validated]) -> RunSummary:
    """Nothing new and nothing changed in catalog or code: the published state stands. The run is
    recorded in the lake's run_log (the DuckDB file shows it from the next publish); no rebuild,
    no new version, no Data Docs or dashboard rebuild."""
    nothing = MergeCounts(0, 0, 0)
    rows = pa.concat_tables([steps.run_log_row(run_id, v, nothing) for v in batches])
    with stage("publish"):
        record_runs_only(s, rows)
    for v in batches:
        if v.rejected:
            get_run_logger().error(v.rejected)
    summary = RunSummary(run_id=run_id, warehouse=str(s.db_path), tables={}, sources=[_source_summary(v, nothing) for v in batches],
                         published=False)
    events.emit_published(summary.to_dict())
    return summary


load_and_publish_task = task(name="load-and-publish")(load_and_publish)


def _wait_for_gx_records() -> bool:
    """GX's results are the record, not the gate (the DuckDB engine decided what loaded), so GX runs
    after the publish, and a GX failure is reported like a Data Docs failure."""
    try:
        gx_record.write_pending()
        return True
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning(f"Great Expectations results not recorded: {exc}")
        return False


def build_dashboard_page(s: Settings) -> str | None:
    """Rebuild the static dashboard from the published file; like the Data Docs, a failure here is
    reported, not raised (the warehouse is already published)."""
    from flows.dashboard import build_dashboard

    try:
        return str(build_dashboard(s))
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning(f"Dashboard not rebuilt: {exc}")
        return None


def build_docs(s: Settings) -> str | None:
    """Rebuild the Data Docs from the latest validation results. The warehouse is already
    published at this point, so a failure here is reported, not raised."""
    from flows.datadocs import build_data_docs

    try:
        return str(build_data_docs(s))
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning(f"Data Docs not rebuilt: {exc}")
        return None


@flow(name="ciw-nightly", log_prints=True)
def nightly(live: bool = False, only: list[str] | None = None, full_refresh: bool = False) -> dict:
    """The whole pipeline once: commitments, catalog, every source, validate, load, publish.

    A source whose input bytes and rules match its last successful load is skipped (a quiet
    night costs almost nothing); full_refresh re-validates and re-merges every source anyway.
    """
    s = settings()
    run_id = new_run_id()
    with stage("prepare"):
        commitments = extract_commitments_task(s)
        catalog = read_catalog_task(s)
        previous = steps.previous_loads(s)
    names = only or sorted(sources())
    extracted = [extract_task.submit(s, n, live, run_id) for n in names]
    validated = []
    for n, future in zip(names, extracted):
        try:
            batch = future.result()
        except Exception as exc:  # noqa: BLE001 - a source that cannot be fetched must not stop the others
            validated.append(steps.failed(get_source(n), str(exc)))
            continue
        validated.append(validate_task(s, batch, catalog, previous.get(n), full_refresh))
    return load_and_publish_task(s, run_id, catalog, commitments, validated).to_dict()


@flow(name="ciw-ingest-file", log_prints=True)
def ingest_file(path: str, source: str) -> dict:
    """One file of one source through the same validate-and-load path as the nightly run."""
    s = settings()
    run_id = new_run_id()
    commitments = extract_commitments_task(s)
    catalog = read_catalog_task(s)
    extracted = steps.extract_file(Path(path).resolve(), get_source(source))
    validated = validate_task(s, extracted, catalog)
    return load_and_publish_task(s, run_id, catalog, commitments, [validated]).to_dict()


@flow(name="ciw-resubmit-quarantine", log_prints=True)
def resubmit_quarantine(source: str, rule: str | None = None) -> dict:
    """Re-validate quarantined rows of a source (optionally one rule) after a fix to the catalog or
    suite; rows that pass now are loaded and marked released. Nothing is deleted from quarantine."""
    s = settings()
    run_id = new_run_id()
    commitments = extract_commitments_task(s)
    catalog = read_catalog_task(s)
    return load_and_publish_task(s, run_id, catalog, commitments, [], resubmit=(source, rule)).to_dict()
