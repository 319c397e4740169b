"""The static dashboard, warehouse/dashboard/index.html: one self-contained page built from the
published warehouse (scorecard + small-multiple charts as inline SVG) that a browser draws from
disk with the network unreachable."""
from __future__ import annotations

import json
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from flows import dashboard
from flows.config import Settings
from tests.browser import CHROMIUM, Browser, open_offline

ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = ROOT / "test-artifacts" / "dashboard.png"  # beside the Data Docs screenshots (git-ignored)
STATUS_CLASSES = {f"status-{k}" for k in dashboard.STATUSES}


@pytest.fixture(scope="module")
def built(published, tmp_path_factory):
    """The dashboard of the session's published warehouse, built into this module's own warehouse dir."""
    s = Settings(warehouse_dir=tmp_path_factory.mktemp("dashboard") / "warehouse")
    db = published / "ciw.duckdb"
    started = time.perf_counter()
    index = dashboard.build_dashboard(s, db_path=db)
    seconds = time.perf_counter() - started
    con = duckdb.connect(str(db), read_only=True)
    try:
        yield {"s": s, "db": db, "index": index, "html": index.read_text(encoding="utf-8"), "seconds": seconds,
               "stats": dashboard.last_stats, "con": con}
    finally:
        con.close()


# --- what a page loads ------------------------------------------------------------------------------
_LOADING_ATTRS = {  # tag -> attributes that make a browser fetch something
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",), "frame": ("src",),
    "source": ("src", "srcset"), "embed": ("src",), "object": ("data",), "video": ("src", "poster"),
    "audio": ("src",), "track": ("src",), "input": ("src",), "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"), "feimage": ("href", "xlink:href"), "body": ("background",),
}
_CSS_URL = re.compile(r"url\(\s*[\"']?([^\"')\s]*)", re.I)
_CSS_IMPORT = re.compile(r"@import\b", re.I)


class _Page(HTMLParser):
    """Everything the page would load, its inline scripts and styles, its <a href>s, and the scorecard cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.refresh = False
        self._row: str | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in _LOADING_ATTRS.get(tag, ()):
            if a.get(name):
                self.loads.append(a[name])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.refresh = True
        if "style" in a:
            self.styles.append(a["style"])
        if tag in ("script", "style"):
            self._in = tag
            (self.scripts if tag == "script" else self.styles).append("")
        if tag == "tr" and "data-commitment" in a:
            self._row = a["data-commitment"]
        if tag == "td" and self._row and "data-country" in a:
            self.cells[(self._row, a["data-country"])] = a

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._in = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "style":
            self.styles[-1] += data


def parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


def fetches(page: str) -> list[str]:
    """What the page would fetch: loading attributes, CSS url()/@import, refresh redirects."""
    p = parse(page)
    out = list(p.loads)
    for css in p.styles:
        out += [u for u in _CSS_URL.findall(css) if u]
        out += ["@import"] * len(_CSS_IMPORT.findall(css))
    if p.refresh:
        out.append("meta refresh")
    return out


def test_the_reference_checker_finds_what_a_page_would_fetch():
    bad = ('<html><head><link rel="stylesheet" href="https://cdn.invalid/x.css"><script src="//cdn.invalid/a.js"></script>'
           '<style>@import "y.css"; body{background:url(https://cdn.invalid/bg.png)}</style></head><body>'
           '<svg><image href="https://cdn.invalid/i.png"/></svg><img src="local.png"><a href="https://ok.invalid/">a link</a></body></html>')
    found = fetches(bad)
    assert "https://cdn.invalid/x.css" in found and "//cdn.invalid/a.js" in found
    assert "https://cdn.invalid/bg.png" in found and "@import" in found
    assert "https://cdn.invalid/i.png" in found and "local.png" in found
    assert "https://ok.invalid/" not in found  # following a link is not loading


def test_one_self_contained_file_that_loads_nothing(built):
    page = built["html"]
    assert not [p.name for p in built["index"].parent.iterdir() if p.name not in ("index.html", "screenshot.png")]
    assert fetches(page) == []  # not from the network, not from disk either: one file
    p = parse(page)
    assert len(p.scripts) <= 1 and sum(len(s) for s in p.scripts) < 1500  # a few lines of filtering, no library
    assert "@font-face" not in page
    # The only http(s) addresses left are links a reader may follow and the SVG namespace.
    rest = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for href in p.links:
        rest = rest.replace(f'href="{href}"', "")
    assert not re.findall(r"https?://", rest)
    assert all(h.startswith(("#", "https://", "http://")) for h in p.links)


def test_header_names_the_published_run(built):
    run_id, finished = built["con"].execute(
        "SELECT run_id, max(finished_at) FROM run_log GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
    assert f'<code id="run-id">{run_id}</code>' in built["html"]
    assert finished.strftime("%Y-%m-%d %H:%M UTC") in built["html"]


def test_scorecard_has_a_status_cell_per_commitment_and_focus_country(built):
    con = built["con"]
    expected = {(c, k): (st, m, ev) for c, k, st, m, ev in con.execute(
        "SELECT commitment_id, country_iso3, status, measurability, evidence_status FROM mart_commitment_scorecard").fetchall()}
    commitments = [r[0] for r in con.execute("SELECT commitment_id FROM dim_commitment").fetchall()]
    assert len(commitments) >= 20
    cells = parse(built["html"]).cells
    for cid in commitments:
        for iso in dashboard.FOCUS:
            cell = cells.get((cid, iso))
            assert cell is not None, (cid, iso)
            classes = set(cell["class"].split())
            status, measurability, evidence = expected[(cid, iso)]
            assert classes & STATUS_CLASSES == {f"status-{status}"}, (cid, iso, classes)
            assert cell["data-status"] == status
            assert cell.get("title"), (cid, iso)  # counts as a tooltip
            if measurability != "measured" and status == "not_available" and evidence:
                assert "evidence" in classes, (cid, iso)
    # Tooltips carry the counts per status.
    cid, iso, n, n_det = con.execute(
        "SELECT commitment_id, country_iso3, indicators, n_deterioration FROM mart_commitment_scorecard "
        "WHERE country_iso3 = 'GTM' AND n_deterioration > 0 ORDER BY commitment_id LIMIT 1").fetchone()
    assert f"{n} indicator" in cells[(cid, iso)]["title"] and f"{n_det} deterioration" in cells[(cid, iso)]["title"]
    # Other economies with data get a column too; the focus countries come first, in order.
    header = re.search(r"<thead>(.*?)</thead>", built["html"], re.S).group(1)
    cols = re.findall(r'<th scope="col" data-country="([A-Z]{3})"', header)
    assert cols[:5] == list(dashboard.FOCUS) and len(cols) > 5


def test_a_chart_per_linked_indicator_with_lines_baseline_and_source(built):
    con = built["con"]
    page, stats = built["html"], built["stats"]
    links = con.execute("SELECT count(*) FROM bridge_commitment_indicator").fetchone()[0]
    figures = re.findall(r'<figure class="indicator".*?</figure>', page, re.S)
    assert len(figures) == links
    charts = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    assert len(charts) == stats.charts > 20
    assert stats.charts + stats.without_series == links
    for svg in charts:
        assert 'role="img"' in svg and re.search(r'aria-label="[^"]+"', svg) and "<title>" in svg
        assert re.search(r'<path class="series" data-country="[A-Z]{3}" d="M[\d.]+,[\d.]+', svg), svg[:300]
        assert len(re.findall(r'<line class="baseline" data-year="\d{4}"', svg)) == 1
    assert any('data-year="2017"' in svg for svg in charts)
    for fig in figures:
        assert re.search(r"<figcaption[^>]*>Source: [^<]{5,}", fig), fig[-300:]
    # Values drawn are the published annual series: Guatemala's homicide rate has one vertex per year shown.
    years = [y for (y,) in con.execute(
        "SELECT year FROM observation WHERE indicator_id = 'VC.IHR.PSRC.P5' AND country_iso3 = 'GTM' AND period_type = 'year' "
        "AND sex = 'total' AND breakdown = 'total' AND year >= 2010 ORDER BY year").fetchall()]
    fig = next(f for f in figures if 'data-indicator="VC.IHR.PSRC.P5"' in f)
    d = re.search(r'<path class="series" data-country="GTM" d="([^"]+)"', fig).group(1)
    assert d.count("L") + 1 == len(years) > 5
    assert "per 100,000 people" in fig  # the unit on the axis


def test_rebuild_is_deterministic_atomic_and_fast(built, monkeypatch):
    s, index = built["s"], built["index"]
    assert built["seconds"] < 10, built["seconds"]
    before = index.read_bytes()
    assert dashboard.build_dashboard(s, db_path=built["db"]).read_bytes() == before

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(dashboard, "_render", broken)
    with pytest.raises(RuntimeError):
        dashboard.build_dashboard(s, db_path=built["db"])
    assert index.read_bytes() == before  # the previous page stays whole
    assert not [p.name for p in index.parent.iterdir() if p.name not in ("index.html", "screenshot.png")]  # no temp file left


def test_text_is_escaped(built, tmp_path, monkeypatch):
    real = dashboard._read

    def hostile(con):
        data = real(con)
        data["commitments"][0]["text"] = '<script>alert("x")</script> & "quotes"'
        data["links"][0]["name"] = "<b>bold</b>"
        return data

    monkeypatch.setattr(dashboard, "_read", hostile)
    page = dashboard.build_dashboard(Settings(warehouse_dir=tmp_path / "w"), db_path=built["db"]).read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


# --- a real browser, network unreachable ----------------------------------------------------------
_FACTS = """(() => {
    const charts = [...document.querySelectorAll('svg.chart')];
    // a line with length, or a lone year drawn as its point
    const drawn = charts.map(svg => [...svg.querySelectorAll('path.series')]
        .filter(p => (p.getAttribute('d') || '').length > 1
                && (p.getTotalLength() > 0 || svg.querySelector(`circle.point[data-country="${p.dataset.country}"]`))).length);
    const cell = document.querySelector('td.cell.status-deterioration');
    const theme = document.getElementById('f-theme');
    const visible = () => [...document.querySelectorAll('section.commitment')].filter(e => e.offsetParent !== null).length;
    const all = visible();
    theme.value = 'energy_siepac'; theme.dispatchEvent(new Event('change'));
    const filtered = visible();
    theme.value = ''; theme.dispatchEvent(new Event('change'));
    const nav = performance.getEntriesByType('navigation')[0];
    return JSON.stringify({
        charts: charts.length, drawn, widths: charts.map(c => c.getBoundingClientRect().width),
        seriesWithD: document.querySelectorAll('svg.chart path.series[d]').length,
        baselines: document.querySelectorAll('svg.chart line.baseline').length,
        baseline2017: document.querySelectorAll('svg.chart line.baseline[data-year="2017"]').length,
        cells: document.querySelectorAll('table.scorecard td.cell[data-status]').length,
        cellColour: cell && getComputedStyle(cell).backgroundColor,
        externalScripts: [...document.scripts].filter(s => s.src).length,
        sections: all, filtered, after: visible(),
        loadMs: nav ? Math.round(nav.loadEventEnd - nav.startTime) : null,
    });
})()"""


@pytest.mark.skipif(not CHROMIUM, reason="Chromium not installed (/usr/bin/chromium)")
def test_dashboard_renders_in_a_browser_with_the_network_unreachable(built, tmp_path):
    index = built["index"]
    shot = index.parent / "screenshot.png"
    browser = Browser(CHROMIUM, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        seen = open_offline(browser, index.as_uri(), _FACTS, shot, full_page=True, settle=0.5)
        # The harness does catch a broken page: a script error and an outside request on a copy.
        bad = tmp_path / "bad.html"
        bad.write_text(built["html"].replace(
            "</body>", '<img src="https://cdn.invalid/x.png"><script>console.error("boom")</script></body>'), encoding="utf-8")
        broken = open_offline(browser, bad.as_uri(), _FACTS, None, settle=0.5)
    finally:
        browser.close()
    assert seen["outside"] == [] and seen["failed"] == [], seen
    assert seen["errors"] == [], seen["errors"]
    facts = seen["facts"]
    stats = built["stats"]
    assert facts["charts"] == stats.charts > 20
    assert all(n >= 1 for n in facts["drawn"]), facts["drawn"]
    assert facts["seriesWithD"] == stats.series
    assert all(w > 200 for w in facts["widths"]), facts["widths"]  # laid out at a readable size
    assert facts["baselines"] == facts["charts"] and facts["baseline2017"] > 0
    assert facts["cells"] >= 22 * 5
    assert facts["cellColour"] == "rgb(211, 47, 47)"  # the inline CSS applied: deterioration is red
    assert facts["externalScripts"] == 0
    assert facts["sections"] >= 20 and 0 < facts["filtered"] < facts["sections"] and facts["after"] == facts["sections"]
    assert shot.stat().st_size > 50_000
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    print(f"dashboard: built in {built['seconds']:.2f} s, loaded in Chromium in {facts['loadMs']} ms; screenshot {ARTIFACT}")
    assert "boom" in " ".join(broken["errors"]) and broken["outside"] == ["https://cdn.invalid/x.png"], broken
    assert json.dumps(broken["failed"]).count("cdn.invalid") == 1
