"""Saved queries: `sql/queries/NAME.sql`, run by name with bound parameters (`ciw query NAME`).

Each file opens with a comment header (grammar in sql/queries/README.md):

    -- title: Homicide rates, three publishers side by side
    -- description: One row per country and year ...
    --   (an indented comment line continues the line above)
    -- param: country VARCHAR[] default GTM,HND,SLV | countries (ISO3), comma-separated
    -- param: indicator VARCHAR required | indicator_id (dim_indicator)
    --
    -- (an empty `--` line ends the header; comments after it are ordinary SQL comments)
    SELECT ... WHERE list_contains($country, country_iso3)

A value is cast in Python to its declared type (INTEGER, DOUBLE, VARCHAR, DATE, BOOLEAN, or a list
of one of them: comma-separated) and handed to DuckDB as a named parameter ($country): it is never
pasted into the SQL text, so a value holding a quote or `'; DROP TABLE x; --` is only ever data.
The query runs through flows/warehouse.py: one read-only statement on a read-only connection.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import shlex
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from flows import warehouse
from flows.config import settings

TYPES = ("INTEGER", "DOUBLE", "VARCHAR", "DATE", "BOOLEAN")
FORMATS = ("table", "csv", "json", "parquet")
NULL = "null"  # the value that means SQL NULL, for parameters whose default is null

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_HEADER_KEY = re.compile(r"--\s?([A-Za-z_]+):\s*(.*)\Z")
_CONTINUATION = re.compile(r"--\s{2,}(\S.*)\Z")
_PARAM = re.compile(
    r"(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Za-z]+)(?P<list>\[\])?"
    r"(?:\s+(?:(?P<required>required)|default\s+(?P<default>'[^']*'|[^|]*?)))?"
    r"\s*(?:\|\s*(?P<help>.*))?\Z",
    re.I,
)
# Used parameters: $name outside string literals and comments.
_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_USED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_POSITIONAL = re.compile(r"\$\d|\?")
_INT32 = (-(2**31), 2**31 - 1)
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


class QueryError(Exception):
    """A saved query is unknown or badly declared, or was given bad parameters."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # one of TYPES
    is_list: bool
    required: bool
    default: Any  # already cast; None = SQL NULL
    help: str

    @property
    def type_label(self) -> str:
        return self.type + ("[]" if self.is_list else "")

    @property
    def nullable(self) -> bool:
        """`null` is accepted only where the query declares it as the default."""
        return not self.required and self.default is None

    def default_label(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return NULL
        if self.is_list:
            return ",".join(_label(v) for v in self.default)
        return _label(self.default)

    def cast(self, value: Any, query: str = "") -> Any:
        """One value (text from the command line, or a Python value) to the declared type."""
        where = f"parameter {self.name!r}" + (f" of query {query!r}" if query else "")
        if value is None or (isinstance(value, str) and value == NULL):
            if not self.nullable:
                raise QueryError(f"{where} cannot be null (it is {self.type_label}, "
                                 f"{'required' if self.required else 'default ' + self.default_label()})")
            return None
        if self.is_list:
            parts = value if isinstance(value, (list, tuple)) else [value]
            items = [item for part in parts for item in (_split(part) if isinstance(part, str) else [part])]
            return [_cast_scalar(self.type, item, where) for item in items]
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise QueryError(f"{where} takes one {self.type} value, got {len(value)}")
            value = value[0]
        return _cast_scalar(self.type, value, where)


def _label(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v.isoformat() if isinstance(v, date) else str(v)


def _split(text: Any) -> list[str]:
    text = str(text)
    return [item.strip() for item in text.split(",") if item.strip()] if text.strip() else []


def _cast_scalar(kind: str, value: Any, where: str) -> Any:
    text = _label(value) if not isinstance(value, str) else value
    if kind == "VARCHAR":
        return text
    raw = text.strip()
    if kind == "INTEGER":
        if not re.fullmatch(r"[+-]?\d+", raw):
            raise QueryError(f"{where} is INTEGER: {text!r} is not a whole number")
        n = int(raw)
        if not _INT32[0] <= n <= _INT32[1]:
            raise QueryError(f"{where} is INTEGER: {n} is out of range")
        return n
    if kind == "DOUBLE":
        try:
            x = float(raw)
        except ValueError:
            raise QueryError(f"{where} is DOUBLE: {text!r} is not a number") from None
        if not math.isfinite(x):
            raise QueryError(f"{where} is DOUBLE: {text!r} is not a finite number")
        return x
    if kind == "DATE":
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                return date.fromisoformat(raw)
        except ValueError:
            pass
        raise QueryError(f"{where} is DATE: {text!r} is not a date written YYYY-MM-DD")
    if kind == "BOOLEAN":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise QueryError(f"{where} is BOOLEAN: {text!r} is not true or false")
    raise QueryError(f"{where}: unknown type {kind}")  # pragma: no cover - parse_header checks types


@dataclass(frozen=True)
class SavedQuery:
    name: str
    title: str
    description: str
    params: tuple[Param, ...]
    sql: str  # the file's text, exactly as DuckDB receives it
    path: Path
    example: tuple[tuple[str, str], ...] = ()  # parameters for a run that returns rows (`-- example:`)

    @property
    def example_params(self) -> dict[str, Any]:
        return parse_param_args([f"{k}={v}" for k, v in self.example])

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise QueryError(f"unknown parameter {name!r} for query {self.name!r}; {self._takes()}")

    def _takes(self) -> str:
        if not self.params:
            return "it takes no parameters"
        return "it takes: " + ", ".join(f"{p.name} ({p.type_label})" for p in self.params)

    def bind(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Named parameters for DuckDB: every declared one, given or default, cast to its type."""
        given = dict(given or {})
        for name in given:
            self.param(name)  # unknown names are errors, never ignored
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                out[p.name] = p.cast(given[p.name], self.name)
            elif p.required:
                raise QueryError(
                    f"query {self.name!r} needs parameter {p.name!r} ({p.type_label}"
                    + (f": {p.help}" if p.help else "") + f"): add --param {p.name}=VALUE"
                )
            else:
                out[p.name] = p.default
        return out

    def usage(self) -> str:
        parts = [f"ciw query {self.name}"]
        for p in self.params:
            parts.append(f"--param {p.name}=<{p.type_label}>" if p.required else f"[--param {p.name}={p.default_label()}]")
        return " ".join(parts)

    def example_command(self) -> str:
        return " ".join([f"ciw query {self.name}"] + [f"--param {_shell_quote(f'{k}={v}')}" for k, v in self.example])


def _shell_quote(text: str) -> str:
    if shlex.quote(text) == text:
        return text
    if "'" in text and not any(c in text for c in '"$`\\!'):
        return f'"{text}"'
    return shlex.quote(text)


def queries_dir() -> Path:
    return settings().sql_dir / "queries"


def parse(path: Path) -> SavedQuery:
    """Read one saved query and check its header against its SQL."""
    name = path.stem
    where = f"{path.name}"
    if not _NAME.match(name):
        raise QueryError(f"{where}: a saved query's file name must be lower_snake_case (got {name!r})")
    text = path.read_text(encoding="utf-8")
    fields: dict[str, list[str]] = {"title": [], "description": [], "example": []}
    params: list[list[str]] = []  # [line, help continuation...]
    current: list[str] | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or not lines[i].lstrip().startswith("--"):
        raise QueryError(f"{where}: a saved query starts with a comment header (-- title: ..., -- description: ...)")
    for lineno in range(i, len(lines)):
        line = lines[lineno].strip()
        if not line.startswith("--") or line == "--":
            break
        cont = _CONTINUATION.match(lines[lineno].lstrip())
        key = _HEADER_KEY.match(line)
        if cont and current is not None:
            current.append(cont.group(1).strip())
            continue
        if not key or key.group(1).lower() not in ("title", "description", "param", "example"):
            raise QueryError(
                f"{where}, line {lineno + 1}: expected '-- title:', '-- description:', '-- param:' or '-- example:' "
                f"(indent a continuation line by two spaces after '--'; an empty '--' line ends the header): {line!r}"
            )
        k, value = key.group(1).lower(), key.group(2).strip()
        if k == "param":
            current = [value]
            params.append(current)
        else:
            if fields[k]:
                raise QueryError(f"{where}, line {lineno + 1}: '{k}' is declared twice")
            current = fields[k]
            current.append(value)
    title, description = " ".join(fields["title"]).strip(), " ".join(fields["description"]).strip()
    if not title or not description:
        raise QueryError(f"{where}: the header needs both '-- title:' and '-- description:'")
    declared = tuple(_parse_param(p[0], " ".join(p[1:]), where) for p in params)
    names = [p.name for p in declared]
    if len(set(names)) != len(names):
        raise QueryError(f"{where}: a parameter is declared twice ({', '.join(sorted(n for n in set(names) if names.count(n) > 1))})")
    try:
        warehouse.check_read_only(text)
    except warehouse.QueryRefused as exc:
        raise QueryError(f"{where}: {exc}") from None
    body = _STRINGS_AND_COMMENTS.sub(" ", text)
    if _POSITIONAL.search(body):
        raise QueryError(f"{where}: use named parameters ($name), not positional ones ($1 or ?)")
    used = set(_USED.findall(body))
    if used - set(names):
        raise QueryError(f"{where}: the SQL uses ${', $'.join(sorted(used - set(names)))} but the header does not declare it")
    if set(names) - used:
        raise QueryError(f"{where}: the header declares {', '.join(sorted(set(names) - used))} but the SQL never uses it")
    example = _parse_example(" ".join(fields["example"]), where)
    q = SavedQuery(name=name, title=title, description=description, params=declared, sql=text, path=path, example=example)
    if any(p.required for p in declared) and not example:
        raise QueryError(f"{where}: a query with a required parameter gives an example ('-- example: NAME=VALUE ...')")
    try:
        q.bind(q.example_params)
    except QueryError as exc:
        raise QueryError(f"{where}: bad example: {exc}") from None
    return q


def _parse_example(text: str, where: str) -> tuple[tuple[str, str], ...]:
    """`-- example: indicator=VC.IHR.PSRC.P5 country=GTM,HND` (shell quoting; '--param' optional)."""
    try:
        tokens = [t for t in shlex.split(text) if t != "--param"]
    except ValueError as exc:
        raise QueryError(f"{where}: cannot read the example: {exc}") from None
    out = []
    for t in tokens:
        k, sep, v = t.removeprefix("--param=").partition("=")
        if not sep or not k:
            raise QueryError(f"{where}: the example takes NAME=VALUE pairs (got {t!r})")
        out.append((k, v))
    return tuple(out)


def _parse_param(spec: str, more_help: str, where: str) -> Param:
    m = _PARAM.match(spec.strip())
    if not m:
        raise QueryError(f"{where}: cannot read parameter declaration {spec!r}; "
                         "expected: NAME TYPE[[]] [required | default VALUE] [| help]")
    kind = m.group("type").upper()
    if kind not in TYPES:
        raise QueryError(f"{where}: parameter {m.group('name')!r} has type {kind}; use one of {', '.join(TYPES)} (or TYPE[] for a list)")
    help_text = " ".join(x for x in ((m.group("help") or "").strip(), more_help.strip()) if x)
    default_text = m.group("default")
    required = bool(m.group("required")) or default_text is None
    probe = Param(m.group("name"), kind, bool(m.group("list")), required=False, default=None, help=help_text)
    default = None
    if not required:
        raw = default_text.strip()
        if raw.lower() != NULL:
            raw = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == "'" else raw
            try:
                default = probe.cast(raw)
            except QueryError as exc:
                raise QueryError(f"{where}: bad default: {exc}") from None
    return Param(probe.name, kind, probe.is_list, required, default, help_text)


def discover(directory: Path | None = None) -> dict[str, SavedQuery]:
    """Every saved query, by name; a badly declared file is an error naming it."""
    directory = directory or queries_dir()
    if not directory.is_dir():
        return {}
    return {q.name: q for q in map(parse, sorted(directory.glob("*.sql")))}


def get(name: str, directory: Path | None = None) -> SavedQuery:
    found = discover(directory)
    if name not in found:
        raise QueryError(f"no saved query {name!r}; saved queries: {', '.join(found) or 'none'} (ciw query --list)")
    return found[name]


def parse_param_args(pairs: list[str] | None) -> dict[str, Any]:
    """`--param k=v` arguments to a mapping; a name given twice collects its values into a list."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise QueryError(f"--param takes NAME=VALUE (got {pair!r})")
        if name in out:
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[name] = value
    return out


def run(name: str, params: Mapping[str, Any] | None = None, path: Path | None = None,
        directory: Path | None = None) -> pa.Table:
    """Run a saved query on the published warehouse (read-only) and return its result."""
    q = get(name, directory)
    bound = q.bind(params)
    try:
        return warehouse.query(q.sql, bound, path)
    except warehouse.QueryRefused as exc:  # parse() checks this too; kept for a file edited since
        raise QueryError(f"{q.path.name}: {exc}") from None


# --- output ---------------------------------------------------------------------------------------
def to_text(table: pa.Table, fmt: str) -> str:
    """table, csv or json as text (parquet is binary: see write())."""
    if fmt == "table":
        return warehouse.render(table, "table")
    if fmt == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(_flat_for_csv(table), buf)
        return buf.getvalue().decode("utf-8")
    if fmt == "json":
        return json.dumps([{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()],
                          indent=1, ensure_ascii=False) + "\n"
    raise QueryError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def write(table: pa.Table, fmt: str, output: Path) -> Path:
    """Write the result to a file, whole or not at all (a temporary file renamed into place)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            tmp.write_text(to_text(table, fmt), encoding="utf-8")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def _json_value(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return v


def _flat_for_csv(table: pa.Table) -> pa.Table:
    """CSV has no lists or structs: a list becomes its items joined by '; ', a struct its JSON."""
    cols = []
    for field, col in zip(table.schema, table.columns):
        t = field.type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            col = pc.binary_join(col.cast(pa.list_(pa.string())), "; ")
        elif pa.types.is_struct(t) or pa.types.is_map(t):
            col = pa.array([None if v is None else json.dumps(_json_value(v), ensure_ascii=False) for v in col.to_pylist()], pa.string())
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


def listing(queries: Mapping[str, SavedQuery]) -> str:
    """The text `ciw query --list` prints: name and title, then one line per parameter."""
    if not queries:
        return f"no saved queries in {queries_dir()}\n"
    params = [p for q in queries.values() for p in q.params]
    wn = max([len(p.name) for p in params] + [4])
    wt = max([len(p.type_label) for p in params] + [4])
    wd = max([len(p.default_label()) for p in params] + [7])
    out: list[str] = []
    for q in queries.values():
        out.append(f"{q.name}: {q.title}")
        for p in q.params:
            out.append(f"    {p.name:<{wn}}  {p.type_label:<{wt}}  {p.default_label():<{wd}}  {p.help}".rstrip())
        if q.example:
            out.append(f"    e.g. {q.example_command()}")
    out.append("")
    out.append("parameters: name, type, default ('required' if none; 'null' = no filter)")
    out.append("run: ciw query NAME [--param k=v ...] [--format table|csv|json|parquet] [--output PATH]")
    return "\n".join(out) + "\n"


def as_json(queries: Mapping[str, SavedQuery]) -> list[dict[str, Any]]:
    return [
        {"name": q.name, "title": q.title, "description": q.description, "file": str(q.path),
         "params": [{"name": p.name, "type": p.type_label, "required": p.required,
                     "default": None if p.required else _json_value(p.default), "help": p.help} for p in q.params],
         "example": q.example_command() if q.example else None}
        for q in queries.values()
    ]
