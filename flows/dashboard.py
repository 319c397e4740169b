"""A static dashboard of the published warehouse: warehouse/dashboard/index.html.

One self-contained HTML file that opens from disk with no server and no network: inline CSS, every
chart drawn here in Python as inline SVG, a few lines of inline JavaScript for the theme and
country filters (the page is complete without them), no web fonts, nothing fetched.

It shows
- a header with the published run (run id, when it finished);
- the scorecard (mart_commitment_scorecard): one row per commitment, grouped by theme, one column
  per focus country (GTM HND SLV MEX USA) and per other economy with data, each cell coloured by
  the overall progress status, the counts per status in its tooltip; commitments no series
  measures show their evidence-register status instead;
- per commitment, small multiples: one line chart per linked indicator (bridge_commitment_indicator),
  one line per country (the focus countries; a region such as the SIEPAC market when the series is
  regional; other economies only when no focus country has data), annual values from 2010 (or the
  data start) to the latest year, a dashed vertical marker at the link's base year (2017), the unit
  on the axis and the publisher under the chart.

Every value comes from the published file opened read-only; the annual series are read in one
query into Arrow and grouped in Python. The same warehouse gives the same bytes, and the file is
replaced by a rename, so a reader never sees half a page.
"""
from __future__ import annotations

import html
import logging
import math
import os
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from flows.config import Settings

log = logging.getLogger(__name__)

FOCUS = ("GTM", "HND", "SLV", "MEX", "USA")
REGIONS = ("XCA", "XMR")  # aggregates drawn alongside the focus countries when a series has them
FIRST_YEAR = 2010

# status -> (label, short label, background, text colour): the Open SDG progress colours.
STATUSES: dict[str, tuple[str, str, str, str]] = {
    "target_achieved": ("Target achieved", "Achieved", "#1b6e35", "#ffffff"),
    "on_track": ("On track", "On track", "#4caf50", "#0b2610"),
    "needs_acceleration": ("Needs acceleration", "Accelerate", "#fdd835", "#3a3000"),
    "limited_progress": ("Limited progress", "Limited", "#fb8c00", "#2b1700"),
    "deterioration": ("Deterioration", "Worse", "#d32f2f", "#ffffff"),
    "not_available": ("Not available", "n/a", "#c4c4c4", "#222222"),
}
EVIDENCE = {
    "no_evidence": "No evidence",
    "in_progress": "In progress",
    "partial": "Partial",
    "completed": "Completed",
    "done": "Done",
}
THEMES = {
    "business_climate": "Business climate",
    "fiscal": "Revenues",
    "trade_customs": "Trade and customs",
    "energy_siepac": "Energy integration (SIEPAC)",
    "security_cooperation": "Security cooperation",
    "border_security": "Border security",
    "violence_youth": "Violence reduction and youth",
    "migration": "Migration",
    "assistance": "Assistance",
    "follow_up": "Follow-up",
}
# Line colours per economy (Okabe-Ito based, distinguishable for colour-blind readers).
COLOURS = {
    "GTM": "#0072b2", "HND": "#d55e00", "SLV": "#009e73", "MEX": "#cc79a7", "USA": "#333333",
    "BLZ": "#e69f00", "CRI": "#56b4e9", "NIC": "#8c6d1f", "PAN": "#7f7f7f", "XMR": "#6a3d9a", "XCA": "#b15928",
}
RELATIONS = {"direct": 0, "proxy": 1, "context": 2}

# Chart geometry (SVG user units; the SVG scales to the width of its grid cell).
W, H = 320, 190
ML, MR, MT, MB = 46, 12, 20, 22


def dashboard_dir(s: Settings) -> Path:
    return s.warehouse_dir / "dashboard"


def index_path(s: Settings) -> Path:
    """Where the dashboard page is (it exists once a build has run)."""
    return dashboard_dir(s) / "index.html"


@dataclass
class Stats:
    """What the last build drew (for the log and for tests)."""

    commitments: int = 0
    charts: int = 0
    series: int = 0
    without_series: int = 0
    seconds: float = 0.0


last_stats = Stats()


def build_dashboard(s: Settings, db_path: Path | None = None) -> Path:
    """Render the dashboard of the published warehouse (or of `db_path`) to warehouse/dashboard/index.html.

    Returns the path of the page. The file is written next to its target and renamed over it.
    """
    global last_stats
    from flows.warehouse import connect_readonly

    started = time.perf_counter()
    con = connect_readonly(db_path or s.db_path)
    try:
        data = _read(con)
    finally:
        con.close()
    stats = Stats()
    page = _render(data, s.base_year, stats)
    target = index_path(s)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".html.tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    stats.seconds = time.perf_counter() - started
    last_stats = stats
    log.info("dashboard: %d commitments, %d charts, %d lines in %.2f s -> %s",
             stats.commitments, stats.charts, stats.series, stats.seconds, target)
    return target


# --- reading ----------------------------------------------------------------------------------------
_SERIES_SQL = """
SELECT o.indicator_id, o.country_iso3, o.year, o.value, o.period_type
FROM observation o
WHERE o.indicator_id IN (SELECT DISTINCT indicator_id FROM bridge_commitment_indicator)
  AND o.period_type IN ('year', 'us_fiscal_year') AND o.sex = 'total' AND o.breakdown = 'total'
  AND (o.qualifier IS NULL OR o.qualifier = 'rounded')
  AND o.year IS NOT NULL AND o.value IS NOT NULL AND isfinite(o.value)
ORDER BY o.indicator_id, o.country_iso3, o.year
"""


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()


def _read(con: Any) -> dict[str, Any]:
    run = con.sql(
        "SELECT run_id, max(finished_at) AS finished_at FROM run_log GROUP BY run_id ORDER BY 2 DESC NULLS LAST, 1 DESC LIMIT 1"
    ).fetchall()
    series = con.sql(_SERIES_SQL).to_arrow_table()
    return {
        "run": run[0] if run else (None, None),
        "countries": _rows(con, "SELECT country_iso3, country_name, group_name, is_focus FROM dim_country ORDER BY country_iso3"),
        "commitments": _rows(con, """
            SELECT commitment_id, theme, text, measurability, measurability_note, section, paragraph_index, sentence_index
            FROM dim_commitment ORDER BY paragraph_index, sentence_index, commitment_id"""),
        "scorecard": _rows(con, "SELECT * FROM mart_commitment_scorecard"),
        "links": _rows(con, """
            SELECT b.commitment_id, b.indicator_id, b.relation, b.base_year, b.rationale,
                   coalesce(i.name, b.indicator_id) AS name, i.unit, i.publisher, i.source_id, i.direction
            FROM bridge_commitment_indicator b LEFT JOIN dim_indicator i USING (indicator_id)
            ORDER BY b.commitment_id, b.indicator_id"""),
        "progress": _rows(con, """
            SELECT commitment_id, indicator_id, country_iso3, status, baseline_year, baseline_value,
                   latest_period, latest_value
            FROM mart_commitment_progress"""),
        # Who published the values drawn, and what else an indicator has when it has no annual series.
        "publishers": _rows(con, """
            SELECT indicator_id, source_id, publisher, count(*) AS n FROM observation
            WHERE indicator_id IN (SELECT indicator_id FROM bridge_commitment_indicator)
            GROUP BY ALL ORDER BY indicator_id, n DESC, source_id, publisher"""),
        "period_types": _rows(con, """
            SELECT indicator_id, string_agg(DISTINCT period_type, ', ' ORDER BY period_type) AS period_types, count(*) AS n
            FROM observation WHERE indicator_id IN (SELECT indicator_id FROM bridge_commitment_indicator) GROUP BY 1"""),
        "series": series,
    }


def _group_series(table: Any) -> tuple[dict[str, dict[str, list[tuple[int, float]]]], dict[str, set[str]]]:
    """indicator -> country -> [(year, value)] in year order (the query sorts), and period types per indicator."""
    out: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    kinds: dict[str, set[str]] = defaultdict(set)
    cols = [table.column(c).to_pylist() for c in ("indicator_id", "country_iso3", "year", "value", "period_type")]
    for ind, iso, year, value, kind in zip(*cols):
        out[ind][iso].append((year, value))
        kinds[ind].add(kind)
    return out, kinds


# --- rendering --------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", value)


def _theme_label(theme: str | None) -> str:
    if not theme:
        return "Other"
    return THEMES.get(theme, theme.replace("_", " ").capitalize())


def _short(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "\u2026"


def _fmt(v: float) -> str:
    """A compact number for axis ticks and tooltips: 1.2k, 3.45M, 0.25, -1.5."""
    a = abs(v)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    if a == 0:
        return "0"
    out = f"{v:.3g}" if a >= 0.001 else f"{v:.2e}"
    return "0" if out in ("-0", "0.0") else out


def _nice(lo: float, hi: float, n: int = 4) -> tuple[float, float, list[float]]:
    """Round axis bounds and about `n` ticks covering [lo, hi]."""
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    mag = 10 ** math.floor(math.log10(span / n))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if span / step <= n:
            break
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = [start + i * step for i in range(int(round((end - start) / step)) + 1)]
    return start, end, ticks


def _year_ticks(x0: int, x1: int) -> list[int]:
    span = x1 - x0
    step = next(s for s in (1, 2, 5, 10, 20) if span / s <= 6)
    return [y for y in range(x0, x1 + 1) if y % step == 0] or [x0, x1]


def _countries_for(by_country: dict[str, list[tuple[int, float]]], others: Iterable[str]) -> list[str]:
    """Focus countries with data (and regions); other economies only when no focus country has data."""
    chosen = [c for c in (*FOCUS, *REGIONS) if by_country.get(c)]
    if not chosen:
        chosen = [c for c in others if by_country.get(c)]
    return chosen


def _chart_svg(
    name: str, unit: str | None, base_year: int, series: dict[str, list[tuple[int, float]]],
    countries: list[str], names: dict[str, str], status: dict[str, str], fiscal: bool,
) -> tuple[str, int]:
    """One small line chart as inline SVG; returns (svg, number of lines drawn)."""
    latest = max(p[-1][0] for p in (series[c] for c in countries))
    start = min(p[0][0] for p in (series[c] for c in countries))
    x0 = min(max(FIRST_YEAR, start), base_year)
    x1 = max(latest, base_year)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    visible = {c: [(y, v) for y, v in series[c] if x0 <= y <= x1] for c in countries}
    values = [v for pts in visible.values() for _, v in pts]
    if not values:  # every point before the window (cannot happen: the window ends at the latest year)
        values = [0.0]
    y0, y1, yticks = _nice(min(values), max(values))
    pw, ph = W - ML - MR, H - MT - MB
    sx = lambda y: ML + (y - x0) / (x1 - x0) * pw  # noqa: E731
    sy = lambda v: MT + (1 - (v - y0) / (y1 - y0)) * ph  # noqa: E731

    years = f"{x0}\u2013{x1}"
    label = f"{name} ({unit or 'no unit'}), {years}, by country: {', '.join(names.get(c, c) for c in countries)}; base year {base_year} marked"
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_e(label)}</title>",
        f'<text class="unit" x="{ML - 40}" y="12">{_e(_short(unit or "", 58))}</text>',
    ]
    for t in yticks:
        y = sy(t)
        parts.append(f'<line class="gridline" x1="{ML}" x2="{W - MR}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{ML - 4}" y="{y + 3:.1f}" text-anchor="end">{_e(_fmt(t))}</text>')
    for yr in _year_ticks(x0, x1):
        x = sx(yr)
        parts.append(f'<line class="xtick" x1="{x:.1f}" x2="{x:.1f}" y1="{MT + ph}" y2="{MT + ph + 3}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{H - 6}" text-anchor="middle">{yr}</text>')
    parts.append(f'<line class="axis" x1="{ML}" x2="{W - MR}" y1="{MT + ph}" y2="{MT + ph}"/>')
    bx = sx(base_year)
    parts.append(f'<line class="baseline" data-year="{base_year}" x1="{bx:.1f}" x2="{bx:.1f}" y1="{MT}" y2="{MT + ph}">'
                 f"<title>base year {base_year}</title></line>"
                 + (f'<text class="baseline-label" x="{bx - 3:.1f}" y="{MT + 9}" text-anchor="end">{base_year}</text>'
                    if bx > W - MR - 30 else f'<text class="baseline-label" x="{bx + 3:.1f}" y="{MT + 9}">{base_year}</text>'))
    drawn = 0
    for c in countries:
        pts = visible[c]
        if not pts:
            continue
        colour = COLOURS.get(c, "#555555")
        d = "M" + "L".join(f"{sx(y):.1f},{sy(v):.1f}" for y, v in pts)
        before = [p for p in series[c] if p[0] <= base_year]
        tip = f"{names.get(c, c)}: {pts[-1][0]} {_fmt(pts[-1][1])}"
        if before:
            tip += f" (base {before[-1][0]}: {_fmt(before[-1][1])})"
        if c in status:
            tip += f"; {STATUSES.get(status[c], (status[c],))[0].lower()}"
        parts.append(f'<path class="series" data-country="{_e(c)}" d="{d}" stroke="{colour}"><title>{_e(tip)}</title></path>')
        if len(pts) <= 8:  # few points: show each, so a single year still shows
            parts.extend(f'<circle class="point" data-country="{_e(c)}" cx="{sx(y):.1f}" cy="{sy(v):.1f}" r="2.4" fill="{colour}"/>'
                         for y, v in pts)
        drawn += 1
    if fiscal:
        parts.append(f'<text class="tick" x="{W - MR}" y="12" text-anchor="end">US fiscal years</text>')
    parts.append("</svg>")
    return "".join(parts), drawn


def _render(data: dict[str, Any], default_base: int, stats: Stats) -> str:
    countries = {r["country_iso3"]: r for r in data["countries"]}
    names = {k: r["country_name"] for k, r in countries.items()}
    names["XMR"] = "Regional electricity market (MER)"
    score = {(r["commitment_id"], r["country_iso3"]): r for r in data["scorecard"]}
    focus = [c for c in FOCUS if c in countries or any(k[1] == c for k in score)]
    others = sorted({iso for (_, iso), r in score.items() if iso not in FOCUS and r["status"] != "not_available"})
    columns = focus + others
    by_commitment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in data["links"]:
        by_commitment[link["commitment_id"]].append(link)
    for links in by_commitment.values():
        links.sort(key=lambda r: (RELATIONS.get(r["relation"], 9), r["name"] or "", r["indicator_id"]))
    progress = {(r["commitment_id"], r["indicator_id"], r["country_iso3"]): r["status"] for r in data["progress"]}
    publishers: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in data["publishers"]:
        publishers[r["indicator_id"]].append((r["source_id"], r["publisher"]))
    period_types = {r["indicator_id"]: r["period_types"] for r in data["period_types"]}
    series, kinds = _group_series(data["series"])

    commitments = data["commitments"]
    theme_order: dict[str, int] = {}
    for i, c in enumerate(commitments):
        theme_order.setdefault(c["theme"] or "", i)
    commitments = sorted(commitments, key=lambda c: (theme_order[c["theme"] or ""], c["paragraph_index"] or 0, c["sentence_index"] or 0))
    themes = list(dict.fromkeys(c["theme"] or "" for c in commitments))
    stats.commitments = len(commitments)

    run_id, finished = data["run"]
    when = finished.strftime("%Y-%m-%d %H:%M UTC") if isinstance(finished, datetime) else _e(finished or "unknown")
    out: list[str] = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ciw dashboard \u2014 run {_e(run_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>2017 Central America conference commitments: what the public numbers say</h1>",
        f'<p class="meta">Run <code id="run-id">{_e(run_id)}</code> \u00b7 published <time>{_e(when)}</time> \u00b7 '
        f"{len(commitments)} commitments \u00b7 progress since each link's base year by the Open SDG measure</p>",
        _filters(themes, columns, names), "</header><main>",
        '<section id="scorecard"><h2>Scorecard</h2>', _status_legend(),
        '<p class="note">Each cell: the median status of the commitment\'s indicators in that economy (hover for the counts). '
        "Commitments no public series measures show their evidence-register status.</p>",
        _scorecard(commitments, themes, columns, names, score),
        "</section>",
        '<section id="charts"><h2>Indicators by commitment</h2>',
        f'<p class="note">Annual values from {FIRST_YEAR} (or the first year with data) to the latest; the dashed line marks the base year; '
        "the dot after each country in a legend is that indicator's status there (hover for it). "
        "Lines: ", "", "</p>",  # the key goes in the empty slot once the charts have said which economies they draw
    ]
    key_at = len(out) - 2
    in_charts: set[str] = set()
    for c in commitments:
        cid = c["commitment_id"]
        out.append(f'<section class="commitment" id="c-{_slug(cid)}" data-theme="{_e(c["theme"])}">'
                   f'<h3><span class="theme">{_e(_theme_label(c["theme"]))}</span> {_e(c["text"])}</h3>')
        notes = [f"<code>{_e(cid)}</code>", _e((c["measurability"] or "").replace("_", " "))]
        if c["measurability_note"]:
            notes.append(_e(c["measurability_note"]))
        ev = next((score[(cid, k)] for k in columns if (cid, k) in score and score[(cid, k)]["evidence_status"]), None)
        if ev:
            notes.append(f"evidence register: {_e(EVIDENCE.get(ev['evidence_status'], ev['evidence_status']))}"
                         f" as of {_e(ev['evidence_as_of'])}"
                         + (f' (<a href="{_e(ev["evidence_source"])}" rel="noreferrer">source</a>)' if ev["evidence_source"] else ""))
        out.append('<p class="cmeta">' + " \u00b7 ".join(notes) + "</p>")
        links = by_commitment.get(cid, [])
        if not links:
            out.append('<p class="empty">No indicator is linked to this commitment.</p></section>')
            continue
        out.append('<div class="grid">')
        for link in links:
            ind = link["indicator_id"]
            base = link["base_year"] or default_base
            by_country = series.get(ind, {})
            drawn_countries = _countries_for(by_country, others + [k for k in sorted(by_country) if k not in others])
            # The catalog names the publisher of the series; the rows name who the values came through.
            seen = publishers.get(ind, [])
            source_ids = list(dict.fromkeys([s for s, _ in seen] or [link["source_id"] or ""]))
            publisher = link["publisher"] or "; ".join(dict.fromkeys(p for _, p in seen if p)) or "unknown publisher"
            source = publisher + (f" (source: {', '.join(x for x in source_ids if x)})" if any(source_ids) else "")
            via = "; ".join(dict.fromkeys(p for _, p in seen if p and p != link["publisher"]))
            head = (f'<figure class="indicator" data-indicator="{_e(ind)}"><h4>{_e(link["name"])} '
                    f'<span class="rel rel-{_e(link["relation"])}" title="{_e(link["rationale"])}">{_e(link["relation"])}</span></h4>')
            via_attr = f' title="values as published by: {_e(via)}"' if via else ""
            caption = f'<figcaption{via_attr}>Source: {_e(source)} \u00b7 <code>{_e(ind)}</code></figcaption></figure>'
            if not drawn_countries:
                stats.without_series += 1
                kinds_here = period_types.get(ind)
                why = (f"no annual series to draw (observations: {kinds_here})" if kinds_here else "no observations in the warehouse")
                out.append(f'{head}<p class="nochart">{_e(why)}</p>{caption}')
                continue
            status = {k: progress[(cid, ind, k)] for k in drawn_countries if (cid, ind, k) in progress}
            svg, drawn = _chart_svg(link["name"], link["unit"], base, by_country, drawn_countries, names, status,
                                    fiscal=kinds.get(ind) == {"us_fiscal_year"})
            stats.charts += 1
            in_charts.update(drawn_countries)
            stats.series += drawn
            legend = " ".join(
                f'<span class="key" data-country="{_e(k)}" title="{_e(STATUSES.get(status.get(k, ""), ("no status",))[0])}">'
                f'<i style="background:{COLOURS.get(k, "#555")}"></i>{_e(k)}'
                f'<b class="dot status-{_e(status.get(k, "none"))}"></b></span>'
                for k in drawn_countries)
            out.append(f'{head}{svg}<div class="legend">{legend}</div>{caption}')
        out.append("</div></section>")
    out[key_at] = " ".join(
        f'<span class="key" data-country="{_e(c)}"><i style="background:{COLOURS.get(c, "#555")}"></i>{_e(names.get(c, c))}</span>'
        for c in (*FOCUS, *REGIONS, *sorted(in_charts - set(FOCUS) - set(REGIONS))) if c in in_charts)
    out.append("</section></main>")
    out.append('<footer><p>Built by ciw from the published warehouse (views <code>mart_commitment_scorecard</code>, '
               "<code>mart_commitment_progress</code>, <code>observation</code>). Works offline: no script, font or image is fetched.</p></footer>")
    out.append(f"<script>{_JS}</script></body></html>\n")
    return "\n".join(out)


def _filters(themes: list[str], columns: list[str], names: dict[str, str]) -> str:
    t = "".join(f'<option value="{_e(th)}">{_e(_theme_label(th))}</option>' for th in themes)
    c = "".join(f'<option value="{_e(k)}">{_e(names.get(k, k))}</option>' for k in columns)
    return ('<form class="filters" onsubmit="return false"><label>Theme <select id="f-theme"><option value="">all</option>'
            f'{t}</select></label> <label>Country <select id="f-country"><option value="">all</option>{c}</select></label></form>')


def _status_legend() -> str:
    return '<p class="statuses">' + " ".join(
        f'<span class="status-{k} pill">{_e(label)}</span>' for k, (label, *_rest) in STATUSES.items()) + "</p>"


def _scorecard(commitments: list[dict[str, Any]], themes: list[str], columns: list[str], names: dict[str, str],
               score: dict[tuple[str, str], dict[str, Any]]) -> str:
    head = "".join(f'<th scope="col" data-country="{_e(k)}" title="{_e(names.get(k, k))}"'
                   f'{" class=focus" if k in FOCUS else ""}>{_e(k)}</th>' for k in columns)
    rows = [f'<table class="scorecard"><thead><tr><th scope="col">Commitment</th>{head}</tr></thead>']
    for theme in themes:
        rows.append(f'<tbody data-theme="{_e(theme)}"><tr class="theme-row"><th colspan="{len(columns) + 1}" scope="colgroup">'
                    f"{_e(_theme_label(theme))}</th></tr>")
        for c in (c for c in commitments if (c["theme"] or "") == theme):
            cid = c["commitment_id"]
            cells = []
            for k in columns:
                r = score.get((cid, k))
                if r is None:
                    cells.append(f'<td class="cell empty" data-country="{_e(k)}" title="{_e(names.get(k, k))}: not covered">\u2014</td>')
                    continue
                status = r["status"] or "not_available"
                label, short, *_ = STATUSES.get(status, (status, status))
                qualitative = r["measurability"] != "measured"
                counts = ", ".join(f"{r['n_' + s]} {STATUSES[s][0].lower()}" for s in STATUSES if r.get("n_" + s))
                tip = f"{names.get(k, k)}: {label}"
                tip += f" \u2014 {r['indicators']} indicator{'s' if r['indicators'] != 1 else ''}" + (f": {counts}" if counts else "")
                if r["latest_data_year"]:
                    tip += f"; latest data {r['latest_data_year']}"
                text = short
                classes = f"cell status-{status}"
                if r["evidence_status"]:
                    ev = EVIDENCE.get(r["evidence_status"], r["evidence_status"])
                    tip += f"; evidence register: {ev} as of {r['evidence_as_of']}"
                    if qualitative and status == "not_available":
                        text = ev
                        classes += f" evidence evidence-{r['evidence_status']}"
                cells.append(f'<td class="{_e(classes)}" data-country="{_e(k)}" data-status="{_e(status)}" title="{_e(tip)}">{_e(text)}</td>')
            kind = "" if c["measurability"] == "measured" else ' <span class="qual">qualitative</span>'
            rows.append(f'<tr data-commitment="{_e(cid)}"><th scope="row"><a href="#c-{_slug(cid)}" title="{_e(c["text"])}">'
                        f'{_e(_short(c["text"]))}</a>{kind}</th>{"".join(cells)}</tr>')
        rows.append("</tbody>")
    rows.append("</table>")
    return "".join(rows)


_CSS = (
    "*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "color:#1d1d1f;background:#fafafa}header{background:#123a5e;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:20px}"
    "header .meta{margin:0 0 8px;opacity:.9}header code{background:rgba(255,255,255,.15);padding:0 4px;border-radius:3px}"
    ".filters label{margin-right:16px}.filters select{font:inherit;max-width:280px}main{padding:8px 24px 24px}h2{font-size:18px;margin:20px 0 8px}"
    ".note{color:#555;margin:4px 0 10px}.statuses .pill{display:inline-block;padding:2px 8px;border-radius:10px;margin-right:4px;font-size:12px}"
    "table.scorecard{border-collapse:separate;border-spacing:2px;width:100%;background:#fff}"
    ".scorecard th{text-align:left;font-weight:600;font-size:12px;padding:4px 6px}.scorecard thead th{background:#e8edf2}"
    ".scorecard thead th.focus{background:#cfdbe8}.scorecard tbody th[scope=row]{font-weight:400;max-width:560px}"
    ".scorecard .theme-row th{background:#123a5e;color:#fff;font-size:13px}.scorecard a{color:inherit;text-decoration:none}"
    ".scorecard a:hover{text-decoration:underline}.cell{text-align:center;font-size:12px;min-width:64px;padding:4px;border-radius:3px;cursor:default}"
    ".cell.empty{color:#999;background:#f0f0f0}.cell.evidence{font-style:italic;background-image:repeating-linear-gradient(45deg,transparent 0 6px,rgba(255,255,255,.35) 6px 9px)}"
    ".qual{font-size:11px;color:#666;border:1px solid #bbb;border-radius:8px;padding:0 5px;margin-left:4px}"
    + "".join(f".status-{k}{{background-color:{bg};color:{fg}}}" for k, (_l, _s, bg, fg) in STATUSES.items())
    + ".status-none{background:#fff;border:1px solid #999}"
    ".commitment{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:12px 16px;margin:14px 0}"
    ".commitment h3{font-size:15px;font-weight:500;margin:0 0 4px}.commitment .theme{display:inline-block;background:#123a5e;color:#fff;"
    "font-size:11px;border-radius:3px;padding:1px 6px;margin-right:6px;vertical-align:1px}.cmeta{color:#666;font-size:12px;margin:0 0 8px}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}"
    "figure.indicator{margin:0;border:1px solid #eee;border-radius:4px;padding:6px 8px}figure h4{margin:0 0 2px;font-size:13px;font-weight:600}"
    ".rel{font-size:10px;font-weight:400;border-radius:8px;padding:0 5px;border:1px solid #999;color:#444;vertical-align:1px}"
    ".rel-direct{border-color:#1b6e35;color:#1b6e35}.rel-context{border-style:dashed}"
    "svg.chart{display:block;width:100%;height:auto}svg .gridline{stroke:#e6e6e6;stroke-width:1}svg .axis{stroke:#888;stroke-width:1}"
    "svg .xtick{stroke:#888}svg .tick{font-size:10px;fill:#555}svg .unit{font-size:10px;fill:#333;font-style:italic}"
    "svg .baseline{stroke:#222;stroke-width:1.2;stroke-dasharray:4 3}svg .baseline-label{font-size:10px;fill:#222}"
    "svg .series{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}"
    ".legend{font-size:11px;margin:2px 0}.key{display:inline-block;margin-right:8px;white-space:nowrap}"
    ".key i{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:3px}"
    ".key .dot{display:inline-block;width:7px;height:7px;border-radius:50%;margin-left:3px;vertical-align:middle}"
    "figcaption{font-size:11px;color:#555}.nochart{color:#777;font-style:italic;font-size:12px;height:120px;display:flex;align-items:center;"
    "justify-content:center;background:#f7f7f7;margin:4px 0}.empty{color:#777;font-style:italic}"
    "footer{color:#666;font-size:12px;padding:8px 24px 24px}.off{display:none!important}"
)

# The filters: hide what does not match the chosen theme and country. Nothing else runs.
_JS = (
    "(function(){var t=document.getElementById('f-theme'),c=document.getElementById('f-country');"
    "function apply(){document.querySelectorAll('[data-theme]').forEach(function(e){e.classList.toggle('off',!!t.value&&e.dataset.theme!==t.value)});"
    "document.querySelectorAll('[data-country]').forEach(function(e){e.classList.toggle('off',!!c.value&&e.dataset.country!==c.value)})}"
    "t.addEventListener('change',apply);c.addEventListener('change',apply)})();"
)
