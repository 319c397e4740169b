"""The one validator: a batch is checked against its table's suite in expectations/.

Two engines read the same suite. DuckDB evaluates every row rule over the whole batch (sql/rules.yaml
says how), so each failing row is quarantined with its rule, column, value and reason, with no cap.
Great Expectations runs the same suite on the same batch and its result is kept beside the batch for
the record (warehouse/validations/). Batch-scope rules reject the batch whole.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from flows.config import settings
from flows.duck import registered
from flows.stages import stage

_PARAM = re.compile(r"\$([A-Za-z_]+)")
# What quarantine_split returns per failing row and rule (before the loader adds file and batch).
_FAILURES = pa.schema([
    ("row_id", pa.int64()), ("rule_id", pa.string()), ("expectation_type", pa.string()), ("column_name", pa.string()),
    ("bad_value", pa.string()), ("reason", pa.string()),
])
_NO_FAILURES = _FAILURES.append(pa.field("record", pa.string()))


class BatchRejected(Exception):
    """A batch-scope rule failed: nothing of the batch may load."""

    def __init__(self, source: str, file: str, rule_id: str, reason: str):
        self.source, self.file, self.rule_id, self.reason = source, file, rule_id, reason
        super().__init__(f"[{source}] batch rejected ({file}): rule {rule_id}: {reason}")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    type: str
    scope: str  # "row" or "batch"
    kwargs: dict[str, Any]
    meta: dict[str, Any]

    @property
    def column(self) -> str | None:
        if "column_list" in self.kwargs:
            return ",".join(self.kwargs["column_list"])
        return self.meta.get("column") or self.kwargs.get("column") or self.kwargs.get("column_A")


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    raw: dict[str, Any]
    rules: tuple[Rule, ...]


@dataclass
class Outcome:
    """The split of one batch: rows to load, rows to quarantine, and what GX said."""

    good: pa.Table
    quarantine: pa.Table
    gx_result: dict[str, Any] = field(default_factory=dict)
    rule_counts: dict[str, int] = field(default_factory=dict)


def load_suite(name: str) -> Suite:
    path = settings().expectations_dir / f"{name}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    rules = tuple(
        Rule(
            rule_id=e["meta"]["rule_id"],
            type=e["type"],
            scope=e["meta"].get("scope", "row"),
            kwargs=e["kwargs"],
            meta=e["meta"],
        )
        for e in raw["expectations"]
    )
    templates = _templates()
    unknown = [r.type for r in rules if r.scope == "row" and r.type not in templates]
    if unknown:
        raise ValueError(f"suite {path.name}: no DuckDB evaluation for row rule types {unknown} (add them to sql/rules.yaml)")
    return Suite(name=name, path=path, raw=raw, rules=rules)


def suite_for(table: str, source_id: str | None = None) -> Suite:
    """The table's suite plus the source's own rules (expectations/sources/<source_id>.json), if any:
    every source meets the table's contract, and some formats have checks only they need. A source
    rule with the rule_id of a table rule replaces it (e.g. a longer staleness limit for a publisher
    that updates a series every few years), so an exception is stated where the source is described."""
    base = load_suite(table)
    if source_id is None or not (settings().expectations_dir / "sources" / f"{source_id}.json").exists():
        return base
    extra = load_suite(f"sources/{source_id}")
    own = {r.rule_id for r in extra.rules}
    kept = [i for i, r in enumerate(base.rules) if r.rule_id not in own]
    raw = {**base.raw, "expectations": [base.raw["expectations"][i] for i in kept] + extra.raw["expectations"]}
    return Suite(name=base.name, path=base.path, raw=raw, rules=tuple(base.rules[i] for i in kept) + extra.rules)


@cache
def _templates() -> dict[str, dict[str, str]]:
    return yaml.safe_load((settings().sql_dir / "rules.yaml").read_text(encoding="utf-8"))


def _resolve(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_uniqueness(rule: Rule) -> bool:
    return "duplicates" in _templates()[rule.type]


def _row_rule_sql(rule: Rule, params: dict[str, Any], source: str = "batch") -> tuple[str, dict[str, Any], str]:
    """One SELECT producing the failing rows of one rule from `source` (a uniqueness rule always
    reads all of `batch`), its bound parameters, and the rule's violation predicate alone."""
    t = _templates()[rule.type]
    kw = {k: _resolve(v, params) for k, v in rule.kwargs.items()}
    names: dict[str, str] = {}
    for key in ("column", "column_A", "column_B"):
        if key in kw:
            names[key] = _ident(kw[key])
            names[f"{key}_name"] = kw[key].replace("'", "''")
    names.setdefault("column", names.get("column_A", "NULL"))
    # `report` is the column whose value a quarantine row shows (meta.column, else the checked one)
    names["report"] = _ident(rule.meta["column"]) if rule.meta.get("column") else names["column"]
    names["report_name"] = (rule.meta.get("column") or kw.get("column") or kw.get("column_A") or "").replace("'", "''")
    names["column_name"] = (kw.get("column") or kw.get("column_A") or rule.column or "").replace("'", "''")
    from_clause = source
    if "duplicates" in t:  # uniqueness: find the duplicated keys first (one hash aggregate), then their rows
        cols = kw.get("column_list") or [kw["column"]]
        compare = rule.meta.get("compare_columns") or list(cols)
        keys = ", ".join(_ident(c) for c in cols)
        names["key_text"] = "concat_ws('|', " + ", ".join(f"CAST({_ident(c)} AS VARCHAR)" for c in cols) + ")"
        cmp = "row(" + ", ".join(_ident(c) for c in compare) + ")"
        # candidates by a hash of the key: sorted, a hash equal to the next one is held twice (a
        # sort of 10M hashes holds half the memory of a hash aggregate over them, 0.35 against
        # 0.65-0.75 GB, in the same time); exact per-key counts only over those few rows, so hash
        # collisions cannot flag a unique row
        h = f"hash({keys})"
        from_clause = (
            f"(SELECT *, count(*) OVER w AS _n, count(DISTINCT {cmp}) OVER w AS _distinct, min(row_id) OVER w AS _first "
            f"FROM batch WHERE {h} IN (SELECT h FROM (SELECT h, lead(h) OVER (ORDER BY h) AS next_h FROM (SELECT {h} AS h FROM batch)) "
            f"WHERE h = next_h) "
            f"WINDOW w AS (PARTITION BY {keys}))"
        )
    violation = t["violation"].format(**names)
    if "duplicates" in t:
        violation = f"_n > 1 AND ({violation})"
    bad_value = t["bad_value"].format(**names)
    detail = t["detail"].format(**names)
    sql = (
        f"SELECT row_id, CAST($rule_id AS VARCHAR) AS rule_id, CAST($rule_type AS VARCHAR) AS expectation_type, "
        f"CAST($column_label AS VARCHAR) AS column_name, "
        f"CAST(({bad_value}) AS VARCHAR) AS bad_value, $reason || ': ' || coalesce(({detail}), 'null') AS reason "
        f"FROM {from_clause} WHERE {violation}"
    )
    bound = {"rule_id": rule.rule_id, "rule_type": rule.type, "column_label": rule.column, "reason": rule.meta.get("reason", rule.rule_id)}
    for name in set(_PARAM.findall(" ".join((violation, detail, bad_value)))):
        bound[name] = kw.get(name, False if name == "or_equal" else None)
    return sql, bound, violation


def _check_batch_rules(suite: Suite, con: duckdb.DuckDBPyConnection, params: dict[str, Any], source: str, file: str) -> None:
    columns = [r[0] for r in con.sql("DESCRIBE batch").fetchall()]
    n = con.sql("SELECT count(*) FROM batch").fetchall()[0][0]
    for rule in (r for r in suite.rules if r.scope == "batch"):
        kw = {k: _resolve(v, params) for k, v in rule.kwargs.items()}
        reason = rule.meta.get("reason", rule.rule_id)
        if rule.type == "expect_table_row_count_to_be_between":
            lo, hi = kw.get("min_value"), kw.get("max_value")
            if (lo is not None and n < lo) or (hi is not None and n > hi):
                raise BatchRejected(source, file, rule.rule_id, f"{reason} ({n} rows)")
        elif rule.type == "expect_table_columns_to_match_set":
            want = set(kw["column_set"])
            missing, extra = want - set(columns), set(columns) - want
            if missing or (kw.get("exact_match", True) and extra):
                raise BatchRejected(source, file, rule.rule_id, f"{reason}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        elif rule.type == "expect_column_distinct_values_to_contain_set":
            wanted = kw.get("value_set") or []
            if not wanted:
                continue
            with registered(con, _wanted=pa.table({"v": pa.array(list(wanted), pa.string())})):
                # DISTINCT first: a hash aggregate of a few thousand groups, not a set operation
                # holding every row of the batch (10M rows: 0.5-0.75 s -> 0.15 s)
                missing = [r[0] for r in con.sql(
                    f"SELECT v FROM _wanted EXCEPT SELECT DISTINCT CAST({_ident(kw['column'])} AS VARCHAR) FROM batch ORDER BY 1"
                ).fetchall()]
            if missing:
                shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                raise BatchRejected(source, file, rule.rule_id, f"{reason}: {len(missing)} missing ({shown})")
        elif rule.type == "expect_column_max_to_be_between":
            lo, hi = kw.get("min_value"), kw.get("max_value")
            top = con.sql(f"SELECT max({_ident(kw['column'])}) FROM batch").fetchall()[0][0]
            if top is not None and ((lo is not None and top < lo) or (hi is not None and top > hi)):
                raise BatchRejected(source, file, rule.rule_id, f"{reason}: newest {kw['column']} is {top}, expected at least {lo}")
        else:
            raise ValueError(f"suite {suite.path.name}: unsupported batch rule {rule.type}")


def evaluate(con: duckdb.DuckDBPyConnection, suite: Suite, params: dict[str, Any], *, source: str, file: str) -> tuple[pa.Table, dict[str, int]]:
    """Evaluate the suite's rules over the relation `batch` in `con`, where it lives (an Arrow table
    registered, or a table in a batch database on disk: nothing is copied to Python).

    Returns one row per failing row and rule (with the row as JSON) and the failures per rule, and
    leaves the failing row ids in the table `failed_rows` of `con`. The batch must carry a unique
    `row_id`. Raises BatchRejected when a batch-scope rule fails.
    """
    _check_batch_rules(suite, con, params, source, file)
    rules = [r for r in suite.rules if r.scope == "row"]
    single = [r for r in rules if not _is_uniqueness(r)]
    # Rules that look at one row at a time are fused into one scan that keeps the rows failing any of
    # them (`_suspects`, few); each rule then reports its own failures from those rows alone: one
    # pass over the batch instead of one per rule.
    predicates, bound_all = [], {}
    for i, rule in enumerate(single):
        _, bound, violation = _row_rule_sql(rule, params)
        predicates.append("(" + _PARAM.sub(lambda m, i=i: f"$r{i}_{m.group(1)}", violation) + ")")
        bound_all.update({f"r{i}_{k}": v for k, v in bound.items() if f"${k}" in violation})
    con.sql(f"CREATE OR REPLACE TEMP TABLE _suspects AS SELECT * FROM batch WHERE {' OR '.join(predicates) or 'false'}",
            params=bound_all)
    parts: list[pa.Table] = []
    counts: dict[str, int] = {}
    for rule in rules:
        sql, bound, _ = _row_rule_sql(rule, params, source="_suspects")
        failed = con.sql(sql, params=bound).to_arrow_table()
        counts[rule.rule_id] = failed.num_rows
        if failed.num_rows:
            parts.append(failed)
    with registered(con, failed=pa.concat_tables(parts) if parts else _FAILURES.empty_table()):
        con.sql("CREATE OR REPLACE TABLE failed_rows AS SELECT DISTINCT row_id FROM failed")
        # the failing rows in full (for their records and the quarantine): suspects, plus duplicates
        con.sql("CREATE OR REPLACE TEMP TABLE failing AS SELECT * FROM _suspects SEMI JOIN failed_rows USING (row_id)")
        con.sql("CREATE OR REPLACE TEMP TABLE _duplicates AS SELECT row_id FROM failed_rows ANTI JOIN failing USING (row_id)")
        if con.sql("SELECT count(*) FROM _duplicates").fetchall()[0][0]:  # else no second scan of the batch
            con.sql("INSERT INTO failing SELECT * FROM batch SEMI JOIN _duplicates USING (row_id)")
        if not parts:
            return _NO_FAILURES.empty_table(), counts
        with stage("quarantine"):
            bad = con.sql(
                "SELECT f.*, to_json(b) AS record FROM failed f JOIN failing b USING (row_id) ORDER BY f.row_id, f.rule_id"
            ).to_arrow_table()
    return bad, counts


def quarantine_split(
    batch: pa.Table, suite: Suite, params: dict[str, Any], *, source: str, file: str, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """`evaluate` on an Arrow batch: returns (good rows, one row per failing row and rule, failures per rule)."""
    con = con or duckdb.connect()
    with stage("validate"), registered(con, batch=batch):
        bad, counts = evaluate(con, suite, params, source=source, file=file)
        if not bad.num_rows:
            return batch, bad, counts
        with stage("quarantine"):
            good = con.sql("SELECT * FROM batch ANTI JOIN failed_rows USING (row_id)").to_arrow_table()
    return good, bad, counts


def gx_validate(batch: pa.Table, suite: Suite, params: dict[str, Any]) -> dict[str, Any]:
    """Run the suite through Great Expectations (pandas engine) and return its result as JSON.

    GX's SQL path does not work on DuckDB with the pinned versions (TOOLCHAIN-NOTES), so the batch
    goes Arrow -> pandas. Imported lazily: GX costs seconds to import.
    """
    from great_expectations.core.expectation_suite import ExpectationSuite

    ctx = _gx_context()
    suite_obj = ExpectationSuite(**{k: v for k, v in suite.raw.items() if k in ("name", "expectations", "meta", "notes")})
    try:
        asset = ctx.data_sources.get("ciw").get_asset(suite.name)
    except (KeyError, LookupError):
        asset = ctx.data_sources.get("ciw").add_dataframe_asset(name=suite.name)
        asset.add_batch_definition_whole_dataframe(name="batch")
    definition = asset.get_batch_definition("batch")
    gx_batch = definition.get_batch(batch_parameters={"dataframe": batch.to_pandas()})
    result = gx_batch.validate(
        suite_obj,
        expectation_parameters={k: (list(v) if isinstance(v, (set, tuple)) else v) for k, v in params.items()},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"]},
    )
    return json.loads(json.dumps(result.to_json_dict(), default=str))


@cache
def _gx_context():  # noqa: ANN202 - GX types are imported lazily
    """One ephemeral GX context per process: creating one costs more than validating a batch."""
    import logging
    import warnings

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX announces its throwaway docs folder at INFO and pandas warns about the period regex's
    # groups; neither says anything about the data.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ctx.data_sources.add_pandas(name="ciw")
    return ctx


def gx_failed_row_ids(gx_result: dict[str, Any]) -> dict[str, set[int]]:
    """Row ids GX flagged per rule id (for cross-checking the DuckDB engine)."""
    out: dict[str, set[int]] = {}
    for r in gx_result.get("results", []):
        rule_id = r["expectation_config"]["meta"].get("rule_id")
        ids = {int(x["row_id"]) for x in r.get("result", {}).get("unexpected_index_list") or [] if isinstance(x, dict)}
        out[rule_id] = ids
    return out


def default_params() -> dict[str, Any]:
    """Parameters that need no history: gates comparing with a previous load start disabled."""
    s = settings()
    return {
        "min_year": s.min_year, "max_year": date.today().year,
        "min_rows_vs_previous": 0, "previous_series": [], "oldest_acceptable_update": None,
    }


def gate_setting(suite: Suite, rule_id: str, key: str, default: Any) -> Any:
    """A threshold a batch gate keeps in its suite (meta), e.g. max_drop_share, max_age_days."""
    for r in suite.rules:
        if r.rule_id == rule_id:
            return r.meta.get(key, default)
    return default
