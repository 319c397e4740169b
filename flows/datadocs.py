"""Great Expectations' own Data Docs for the latest validation of each table, in warehouse/docs/.

The pages are rendered by GX's renderer from the results the pipeline already keeps in
warehouse/validations/ (nothing is validated again): the latest result of each table is loaded into
the validation-results store of an in-memory GX context, the suites in expectations/ into its suite
store, and GX builds its HTML site. GX's templates load bootstrap, jquery, popper, bootstrap-table,
bootstrap-datepicker, Font Awesome and vega from CDNs and their logo from S3; the pages are then
rewritten to use the copies committed in data/vendor/datadocs/ (see its README), copied to
docs/static/vendor/, so the site opens from disk in a browser with no server and no network.

The build is deterministic (same results in, same bytes out) and replaces warehouse/docs/ whole by a
rename, so a half-built site is never left in its place.
"""
from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flows.config import Settings

log = logging.getLogger(__name__)

SITE_NAME = "ciw"

# Every external asset GX 1.24's Data Docs templates reference (render/view/templates/*.j2) and the
# vendored file(s) under data/vendor/datadocs/ that replace it.
SCRIPTS: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/build/vega-embed.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/dist/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/dist/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/dist/js/bootstrap-datepicker.min.js",
}
STYLESHEETS: dict[str, tuple[str, ...]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": ("bootstrap-4.3.1/dist/css/bootstrap.min.css",),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": ("bootstrap-table-1.19.1/dist/bootstrap-table.min.css",),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        ("bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        ("bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        ("bootstrap-datepicker-1.9.0/dist/css/bootstrap-datepicker.min.css",),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        ("bootstrap-dark-1.1.0/dist/css/bootstrap-prefers-dark.min.css",),
    # GX uses only solid icons (fas fa-check-circle, fa-times, ...): the core and the solid face.
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        ("fontawesome-free-6.6.0/css/fontawesome.min.css", "fontawesome-free-6.6.0/css/solid.min.css"),
}
# Images GX loads from its S3 bucket that it also ships in its own static/images/ (query strings
# such as ?d=<now>&dataContextId=... are dropped with the host).
_GX_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
IMAGES: dict[str, str] = {_GX_ASSETS + "logo-long.png": "static/images/logo-long.png"}
# External references removed on purpose, because no local copy exists: the dark-mode logo (a CSS
# background on S3 only; in dark mode the navbar shows no logo).
REMOVED: frozenset[str] = frozenset({_GX_ASSETS + "full_logo_dark.png"})
VEGA = frozenset(SCRIPTS[u] for u in SCRIPTS if "/npm/vega" in u)  # kept only on pages that draw a chart

_EXTERNAL = r"(?:https?:)?//"
_SCRIPT_TAG = re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"'](?P<url>[^\"']*)[\"'][^>]*>\s*</script>\s*\n?", re.I)
_LINK_TAG = re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"'](?P<url>[^\"']*)[\"'][^>]*>\s*\n?", re.I)
_IMG_SRC = re.compile(r"(?P<pre><img\b[^>]*?\bsrc\s*=\s*)(?P<q>[\"'])(?P<url>[^\"']*)(?P=q)", re.I)
_CSS_URL = re.compile(r"url\(\s*(?P<q>[\"']?)(?P<url>[^\"')]*)(?P=q)\s*\)", re.I)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\()?\s*[\"']?(?P<url>[^\"');]+)[\"']?\s*\)?[^;]*;", re.I)
_STATIC_REF = re.compile(r"(?P<attr>\b(?:src|href)\s*=\s*)(?P<q>[\"'])(?:\./|(?:\.\./)+)(?P<path>static/[^\"']*)(?P=q)", re.I)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.I | re.S)
_STYLE_ATTR = re.compile(r"(\bstyle\s*=\s*\")([^\"]*)(\")", re.I)
_COLLAPSE_UUID = re.compile(r"-collapse-body-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_SOURCE_MAP = re.compile(r"\n?(?://[#@] sourceMappingURL=[^\n]*|/\*[#@] sourceMappingURL=[^*]*\*/)\s*$")
_FONT_SRC_ITEM = re.compile(r"url\((?P<url>[^)]+)\)\s*format\([^)]*\)")


def vendor_dir(s: Settings) -> Path:
    return s.data_dir / "vendor" / "datadocs"


def docs_dir(s: Settings) -> Path:
    return s.warehouse_dir / "docs"


def _is_external(url: str) -> bool:
    return re.match(_EXTERNAL, url.strip(), re.I) is not None


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


@dataclass
class _Rewrite:
    """What the offline rewrite did to one site (for the log and for tests)."""

    unknown_removed: list[str] = field(default_factory=list)  # external refs with no local copy and not expected


def latest_results(s: Settings) -> dict[str, Path]:
    """The newest validation result file of each table (by file time, then name)."""
    out: dict[str, Path] = {}
    if not s.validations_dir.is_dir():
        return out
    for table_dir in sorted(p for p in s.validations_dir.iterdir() if p.is_dir()):
        files = [p for p in table_dir.glob("*.json") if p.is_file()]
        if files:
            out[table_dir.name] = max(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
    return out


def build_data_docs(s: Settings) -> Path:
    """Build GX's Data Docs for the latest validation of each table into warehouse/docs/.

    Returns the path of docs/index.html. The site works from disk with no network: every script,
    stylesheet, font and image it loads is a local file.
    """
    target = docs_dir(s)
    stamp = _results_stamp(s)
    if (target / _STAMP).is_file() and (target / _STAMP).read_text(encoding="utf-8") == stamp and index_path(s).is_file():
        return index_path(s)  # the same results as the site on disk: rendering them again changes nothing
    work = s.warehouse_dir / ".docs.build"
    old = s.warehouse_dir / ".docs.old"
    s.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(s.warehouse_dir / ".docs.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once (a run and `ciw ingest`) take turns
        for leftover in (work, old):
            shutil.rmtree(leftover, ignore_errors=True)
        work.mkdir()
        try:
            _render_site(s, work)
            report = _make_offline(s, work)
            if report.unknown_removed:
                log.warning(
                    "data docs: removed external references with no local copy (vendor them in data/vendor/datadocs): %s",
                    ", ".join(sorted(set(report.unknown_removed))),
                )
            (work / _STAMP).write_text(stamp, encoding="utf-8")
            if target.exists():
                target.rename(old)
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    return index_path(s)


_STAMP = ".results.json"  # which result files the site was rendered from


def _results_stamp(s: Settings) -> str:
    return json.dumps({t: [p.name, p.stat().st_mtime_ns, p.stat().st_size] for t, p in latest_results(s).items()}, sort_keys=True)


def index_path(s: Settings) -> Path:
    """Where the docs' index page is (it exists once a build has run)."""
    return docs_dir(s) / "index.html"


# --- GX rendering -----------------------------------------------------------------------------------
def _render_site(s: Settings, out: Path) -> None:
    """GX renders the site into `out`: suites from expectations/, the latest result of each table."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    for name in ("great_expectations", "great_expectations.render.renderer.site_builder"):
        logging.getLogger(name).setLevel(logging.WARNING)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,  # GX tutorials and a walkthrough modal: not about our data
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "site_section_builders": {"profiling": "False"},
            }
        },
    )
    ctx = gx.get_context(project_config=config, mode="ephemeral")

    suites: dict[str, dict[str, Any]] = {}
    for path in sorted(s.expectations_dir.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        suites[raw["name"]] = raw
    schema = ExpectationSuiteValidationResultSchema()
    for table, path in latest_results(s).items():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # one unreadable result must not cost the other pages
            log.warning("data docs: skipping %s: %s", path, exc)
            continue
        suite_name = raw.get("suite_name") or table
        run_id = RunIdentifier(run_name=path.stem, run_time=_run_time(raw, path))
        # What a GX checkpoint would have recorded with the result: the run (the pipeline's batch
        # id and when GX validated it) and the asset in the batch spec, so the page shows them.
        meta = raw.setdefault("meta", {}) or {}
        meta.setdefault("run_id", run_id.to_json_dict())
        asset = (meta.get("active_batch_definition") or {}).get("data_asset_name")
        if asset and isinstance(meta.get("batch_spec"), dict):
            meta["batch_spec"].setdefault("data_asset_name", asset)
        raw["meta"] = meta
        result = schema.load(raw)
        if suite_name not in suites:  # a result whose suite file is gone: show the suite it ran
            suites[suite_name] = {"name": suite_name, "expectations": [
                {k: v for k, v in r["expectation_config"].items() if k in ("type", "kwargs", "meta")}
                for r in raw.get("results", [])
            ]}
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=run_id,
            batch_identifier=_gx_batch_id(raw, table),
        )
        ctx.validation_results_store.set(key, result)
    for name, raw in sorted(suites.items()):
        ctx.suites.add(ExpectationSuite(**{k: v for k, v in raw.items() if k in ("name", "expectations", "meta", "notes")}))
    ctx.build_data_docs(site_names=[SITE_NAME])


def _run_time(raw: dict[str, Any], path: Path) -> datetime:
    """When GX validated the batch (its batch marker), else the result file's time."""
    marker = (raw.get("meta") or {}).get("batch_markers", {}).get("ge_load_time")
    if marker:
        try:
            return datetime.strptime(marker, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def _gx_batch_id(raw: dict[str, Any], table: str) -> str:
    for r in raw.get("results", []):
        batch_id = (r.get("expectation_config") or {}).get("kwargs", {}).get("batch_id")
        if batch_id:
            return str(batch_id)
    return table


# --- offline rewrite --------------------------------------------------------------------------------
def _make_offline(s: Settings, root: Path) -> _Rewrite:
    report = _Rewrite()
    vendor_out = root / "static" / "vendor"
    _copy_vendor(vendor_dir(s), vendor_out)
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".html", ".css") or vendor_out in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        new = _rewrite_html(text, path, root, report) if path.suffix == ".html" else _rewrite_css(text, report)
        if new != text:
            path.write_text(new, encoding="utf-8")
    return report


def _copy_vendor(src: Path, dst: Path) -> None:
    """The vendored files, minus source-map comments; fonts inlined into their stylesheets."""
    needed = set(SCRIPTS.values()) | {f for files in STYLESHEETS.values() for f in files}
    missing = sorted(f for f in needed if not (src / f).is_file())
    if missing:
        raise FileNotFoundError(f"data docs: vendored files missing under {src}: {missing}")
    for path in sorted(src.rglob("*")):
        if not path.is_file() or path.name == "README.md":
            continue
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".js", ".css"):
            text = _SOURCE_MAP.sub("", path.read_text(encoding="utf-8"))
            if path.suffix == ".css":
                text = _font_sources(text, path.parent)
            out.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(path, out)


def _font_sources(css: str, base: Path) -> str:
    """@font-face `src:` lists: fonts shipped are inlined as data: URIs, fallbacks not shipped dropped.

    Inlined because browsers treat fonts as cross-origin loads, and Firefox refuses a file:// font
    outside the page's own folder (the pages live in subfolders of docs/).
    """

    def item(text: str) -> str | None:
        m = _FONT_SRC_ITEM.match(text)
        if not m:
            return text
        ref = m.group("url").strip("\"'")
        if ref.startswith("data:"):
            return text
        font = base / ref
        if not font.is_file():
            return None
        mime = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf"}[font.suffix]
        data = base64.b64encode(font.read_bytes()).decode("ascii")
        return text[: m.start("url")] + f"data:{mime};base64,{data}" + text[m.end("url"):]

    def fix_src(m: re.Match[str]) -> str:
        kept = [k for i in m.group(2).split(",") if (k := item(i.strip())) is not None]
        return m.group(1) + ",".join(kept)

    return re.sub(r"(\bsrc\s*:)([^;}]*)", lambda m: fix_src(m) if "format(" in m.group(2) else m.group(0), css)


def _rel(target: str, page: Path, root: Path) -> str:
    return Path(os.path.relpath(root / target, page.parent)).as_posix()


def _rewrite_html(html: str, page: Path, root: Path, report: _Rewrite) -> str:
    charts = "vegaEmbed(" in html

    def script(m: re.Match[str]) -> str:
        url = m.group("url")
        if not _is_external(url):
            return m.group(0)
        local = SCRIPTS.get(url)
        if local is None:
            report.unknown_removed.append(url)
            return ""
        if local in VEGA and not charts:
            return ""
        return f'<script src="{_rel("static/vendor/" + local, page, root)}"></script>\n'

    def link(m: re.Match[str]) -> str:
        url, tag = m.group("url"), m.group(0)
        if not _is_external(url) or not re.search(r"\brel\s*=\s*[\"'][^\"']*(stylesheet|icon|preload|prefetch|modulepreload)", tag, re.I):
            return tag
        files = STYLESHEETS.get(url)
        if files is None:
            report.unknown_removed.append(url)
            return ""
        return "".join(f'<link rel="stylesheet" href="{_rel("static/vendor/" + f, page, root)}">\n' for f in files)

    def img(m: re.Match[str]) -> str:
        url = m.group("url")
        if not _is_external(url):
            return m.group(0)
        local = IMAGES.get(_strip_query(url))
        if local is None:
            report.unknown_removed.append(url)
            local_ref = ""
        else:
            local_ref = _rel(local, page, root)
        return f'{m.group("pre")}{m.group("q")}{local_ref}{m.group("q")}'

    def static(m: re.Match[str]) -> str:  # GX's relative static paths are one level short on result pages
        return f'{m.group("attr")}{m.group("q")}{_rel(m.group("path"), page, root)}{m.group("q")}'

    html = _SCRIPT_TAG.sub(script, html)
    html = _LINK_TAG.sub(link, html)
    html = _IMG_SRC.sub(img, html)
    html = _STYLE_BLOCK.sub(lambda m: m.group(1) + _rewrite_css(m.group(2), report) + m.group(3), html)
    html = _STYLE_ATTR.sub(lambda m: m.group(1) + _rewrite_css(m.group(2), report) + m.group(3), html)
    html = _STATIC_REF.sub(static, html)
    ids: dict[str, int] = {}
    return _COLLAPSE_UUID.sub(lambda m: f"-collapse-body-{ids.setdefault(m.group(1), len(ids) + 1)}", html)


def _rewrite_css(css: str, report: _Rewrite) -> str:
    def url(m: re.Match[str]) -> str:
        ref = m.group("url")
        if not _is_external(ref):
            return m.group(0)
        if _strip_query(ref) not in REMOVED:
            report.unknown_removed.append(ref)
        return "none"

    def imp(m: re.Match[str]) -> str:
        if not _is_external(m.group("url")):
            return m.group(0)
        report.unknown_removed.append(m.group("url"))
        return ""

    return _CSS_URL.sub(url, _CSS_IMPORT.sub(imp, css))

