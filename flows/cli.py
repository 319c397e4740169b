"""`ciw`: the command line. Reader commands (sql, status) import neither Prefect nor GX, so they
answer in well under a second; run and ingest bring Prefect up with project-local settings.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from flows.config import settings


def _prefect_env(one_shot: bool = True) -> None:
    """Keep Prefect's state inside the project and everything on this machine (no telemetry).

    With no server configured, a run against a warehouse that `ciw serve` is operating uses that
    server: the run shows in its UI, and Prefect's temporary server (9-16 s of start-up) is not
    started at all. `one_shot` is false for `ciw serve`, which starts a lasting server of its own."""
    s = settings()
    (s.warehouse_dir / ".prefect").mkdir(parents=True, exist_ok=True)  # Prefect creates only the last level
    os.environ.setdefault("PREFECT_HOME", str(s.warehouse_dir / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not os.environ.get("PREFECT_API_URL"):
        from flows.prefect_status import api_url
        from flows.serve import healthy

        running = api_url()
        if running and healthy(running):
            os.environ["PREFECT_API_URL"] = running
        elif one_shot:
            # Prefect's temporary server lives for this one run and logs to our stderr: stopped
            # while its task-run recorder flushes, it printed a page of tracebacks after the run's
            # summary on about half of the quiet nights measured (the run itself had succeeded).
            # Its errors during a run reach us as API errors anyway.
            os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")


def cmd_run(args: argparse.Namespace) -> int:
    _prefect_env()
    from flows.pipeline import nightly

    summary = nightly(live=args.live, only=args.source or None, full_refresh=args.full_refresh)
    _print_summary(summary)
    return 1 if any(src["status"] in ("rejected", "failed") for src in summary["sources"]) else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_file():
        print(f"ciw ingest: no such file: {path}", file=sys.stderr)
        return 2
    _prefect_env()
    from flows.pipeline import ingest_file

    summary = ingest_file(path=str(path.resolve()), source=args.source)
    _print_summary(summary)
    rejected = [src for src in summary["sources"] if src["status"] == "rejected"]
    for src in rejected:
        print(f"REJECTED: {src['message']}", file=sys.stderr)
    return 1 if rejected else 0


def cmd_sql(args: argparse.Namespace) -> int:
    from flows import warehouse

    try:
        table = warehouse.query(args.query)
    except (warehouse.QueryRefused, warehouse.WarehouseMissing) as exc:
        print(f"ciw sql: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(warehouse.render(table, args.format))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from flows import queries, warehouse

    try:
        if args.list:
            found = queries.discover()
            if args.format == "json":
                print(json.dumps(queries.as_json(found), indent=1))
            else:
                sys.stdout.write(queries.listing(found))
            return 0
        if not args.name:
            print("ciw query: give a saved query's name (ciw query --list lists them)", file=sys.stderr)
            return 2
        if args.format == "parquet" and not args.output:
            print(f"ciw query: parquet is binary: give --output PATH (e.g. --output {args.name}.parquet)", file=sys.stderr)
            return 2
        table = queries.run(args.name, queries.parse_param_args(args.param))
    except (queries.QueryError, warehouse.WarehouseMissing) as exc:
        print(f"ciw query: {exc}", file=sys.stderr)
        return 2
    if args.output:
        out = queries.write(table, args.format, Path(args.output))
        print(f"ciw query {args.name}: {table.num_rows:,} rows written to {out} ({args.format})", file=sys.stderr)
    else:
        sys.stdout.write(queries.to_text(table, args.format))
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from flows import dictionary, queries, warehouse

    try:
        path, relations, saved = dictionary.write(Path(args.output) if args.output else None)
    except (dictionary.DictionaryGap, queries.QueryError, warehouse.WarehouseMissing) as exc:
        print(f"ciw docs: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, dictionary.DictionaryGap) else 2
    tables = sum(r.kind == "table" for r in relations)
    print(f"data dictionary: {path} ({tables} tables, {len(relations) - tables} views, {len(saved)} saved queries)")
    return 0


def cmd_evidence(args: argparse.Namespace) -> int:
    """Append one dated, sourced entry to the evidence register; the next run publishes it."""
    from datetime import date

    from flows import evidence
    from flows.catalog import read_catalog
    from flows.steps import extract_commitments

    s = settings()
    known = set(extract_commitments(s).column("commitment_id").to_pylist())
    countries = set(read_catalog(s).countries.column("country_iso3").to_pylist())
    try:
        row = evidence.add(s, evidence.Evidence(
            commitment_id=args.commitment, status=args.status, source_url=args.source, note=args.note,
            as_of=date.fromisoformat(args.as_of) if args.as_of else date.today(), country_iso3=args.country,
        ), known, countries)
    except (evidence.EvidenceError, ValueError) as exc:
        print(f"ciw evidence add: {exc}", file=sys.stderr)
        return 2
    print(f"appended to {evidence.evidence_path(s)}: {row['commitment_id']} {row['country_iso3'] or 'ALL'} "
          f"{row['status']} as of {row['as_of']}; `ciw run` publishes it")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from flows import warehouse

    try:
        report = warehouse.status()
    except warehouse.WarehouseMissing as exc:
        print(f"ciw status: {exc}", file=sys.stderr)
        return 2
    from flows import prefect_status

    prefect = prefect_status.prefect_runs()  # None unless a Prefect server is up (ciw serve)
    if args.format == "json":
        report["prefect"] = prefect
        print(json.dumps(report, indent=2, default=str))
    else:
        print(warehouse.render_status(report))
        print(prefect_status.render(prefect), end="")
    return 0


def _print_summary(summary: dict) -> None:
    s = settings()
    if summary.get("published", True):
        width = max(len(t) for t in summary["tables"])
        print(f"\nciw run {summary['run_id']}: published {summary['warehouse']}")
        print("rows per table:")
        for table, n in summary["tables"].items():
            print(f"  {table:<{width}}  {n:>9,}")
    else:
        print(f"\nciw run {summary['run_id']}: nothing new; {summary['warehouse']} stands as published (run recorded in the lake's run_log)")
    for src in summary["sources"]:
        if src["status"] == "skipped":
            print(f"source {src['source_id']}: skipped (input and rules unchanged since its last load; --full-refresh re-checks)")
            continue
        print(
            f"source {src['source_id']}: {src['status']}, {src['rows_in']:,} rows in, {src['rows_null']:,} without a value, "
            f"{src['rows_loaded']:,} loaded ({src.get('rows_revised', 0):,} revised, {src.get('revisions_flagged', 0):,} flagged for review), "
            f"{src['rows_unchanged']:,} unchanged, {src['rows_quarantined']:,} quarantined"
        )
        if src.get("message"):
            print(f"  {src['message']}")
    print(f"quarantined rows this run: {summary['quarantined']:,}  (see: ciw sql \"SELECT rule_id, count(*) FROM quarantine GROUP BY 1\")")
    print(f"lake (Parquet): {s.lake_dir}/manifest.json")
    if summary.get("data_docs"):
        print(f"data docs (open in a browser, works offline): {Path(summary['data_docs']).as_uri()}")
    if summary.get("dashboard"):
        print(f"dashboard (open in a browser, works offline): {Path(summary['dashboard']).as_uri()}")
    print('query it: ciw sql "SELECT status, count(*) FROM mart_commitment_progress GROUP BY 1"')
    print(f"       or: duckdb -readonly {s.db_path}")


def cmd_quarantine(args: argparse.Namespace) -> int:
    from flows import warehouse

    if args.resubmit:
        if not args.source:
            print("ciw quarantine --resubmit needs --source", file=sys.stderr)
            return 2
        _prefect_env()
        from flows.pipeline import resubmit_quarantine

        summary = resubmit_quarantine(source=args.source, rule=args.rule)
        src = summary["sources"][0]
        passing = src["rows_loaded"] + src["rows_unchanged"]
        print(f"re-submitted {src['rows_in']:,} held rows of {args.source}: {passing:,} pass now "
              f"({src['rows_loaded']:,} loaded, {src['rows_unchanged']:,} identical to what the warehouse holds), "
              f"{src['rows_in'] - passing:,} still failing (they stay held)")
        return 0
    name = "rows" if args.rows else "summary"
    sql = (settings().sql_dir / "quarantine" / f"{name}.sql").read_text(encoding="utf-8")
    try:
        table = warehouse.query(sql, {"source": args.source, "rule": args.rule})
    except warehouse.WarehouseMissing as exc:
        print(f"ciw quarantine: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(warehouse.render(table, args.format))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from flows.load import published_versions, rollback

    s = settings()
    if args.list:
        for v in published_versions(s):
            print(v)
        return 0
    try:
        restored = rollback(s, args.to)
    except ValueError as exc:
        print(f"ciw rollback: {exc}", file=sys.stderr)
        return 2
    print(f"rolled back: {s.db_path} and the lake now hold publish {restored}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    _prefect_env(one_shot=False)
    from flows import serve

    return serve.run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ciw", description="Commitments-indicators warehouse for Central America.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the nightly pipeline once (bundled offline snapshot unless --live)")
    run.add_argument("--live", action="store_true", help="fetch from the publishers' APIs instead of the bundled snapshot")
    run.add_argument("--source", action="append", help="only this source (repeatable)")
    run.add_argument("--full-refresh", action="store_true", help="re-validate and reload every source even when its input is unchanged")
    run.set_defaults(func=cmd_run)

    ingest = sub.add_parser("ingest", help="validate and load one file of one source")
    ingest.add_argument("path")
    ingest.add_argument("--source", required=True, help="source name, e.g. worldbank")
    ingest.set_defaults(func=cmd_ingest)

    sql = sub.add_parser("sql", help="run a read-only query against the published warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.set_defaults(func=cmd_sql)

    query = sub.add_parser("query", help="run a saved query (sql/queries/NAME.sql) with bound parameters; --list lists them")
    query.add_argument("name", nargs="?", help="saved query name (see --list)")
    query.add_argument("--list", action="store_true", help="list the saved queries with their titles and parameters")
    query.add_argument("--param", action="append", metavar="NAME=VALUE",
                       help="a parameter value (repeatable); lists are comma-separated; null = no filter where that is the default")
    query.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table",
                       help="output format (parquet needs --output); with --list: table or json")
    query.add_argument("--output", metavar="PATH", help="write the result to this file instead of stdout")
    query.set_defaults(func=cmd_query)

    docs = sub.add_parser("docs", help="write the data dictionary (Markdown) from the warehouse's table and column descriptions")
    docs.add_argument("--output", metavar="PATH", help="where to write it (default: data_dictionary.md in the warehouse folder)")
    docs.set_defaults(func=cmd_docs)

    ev = sub.add_parser("evidence", help="the evidence register of qualitative commitments")
    ev_sub = ev.add_subparsers(dest="evidence_command", required=True)
    add = ev_sub.add_parser("add", help="append a dated, sourced status change (no_evidence, not_started, limited, substantial, complete)")
    add.add_argument("commitment", help="commitment id (see dim_commitment)")
    add.add_argument("--status", required=True, choices=["no_evidence", "not_started", "limited", "substantial", "complete"])
    add.add_argument("--source", required=True, help="http(s) address of the evidence")
    add.add_argument("--note", required=True, help="what the evidence shows")
    add.add_argument("--as-of", help="date the evidence refers to (YYYY-MM-DD; default today)")
    add.add_argument("--country", help="ISO3 code when the evidence is about one country (default: the commitment as a whole)")
    add.set_defaults(func=cmd_evidence)

    status = sub.add_parser("status", help="last run, rows per table, freshness per source")
    status.add_argument("--format", choices=["text", "json"], default="text")
    status.set_defaults(func=cmd_status)
    q = sub.add_parser("quarantine", help="list quarantined rows by source and rule; re-submit them after a fix")
    q.add_argument("--source", help="only this source")
    q.add_argument("--rule", help="only this rule id")
    q.add_argument("--rows", action="store_true", help="list the rows, not the counts")
    q.add_argument("--resubmit", action="store_true", help="validate held rows again (after fixing the catalog or suite) and load those that pass")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.set_defaults(func=cmd_quarantine)

    rb = sub.add_parser("rollback", help="make the previous publish (or --to RUN_ID) current again")
    rb.add_argument("--to", help="run id of a kept publish (see --list)")
    rb.add_argument("--list", action="store_true", help="list the publishes that are kept")
    rb.set_defaults(func=cmd_rollback)

    serve_p = sub.add_parser("serve", help="operate: local Prefect server, nightly schedule, inbox watcher")
    from flows import serve_args

    serve_args.add_arguments(serve_p)
    serve_p.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
