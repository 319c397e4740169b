"""The scale benchmark (bench/scale.py) at its smallest: it runs end to end, and the pipeline it
measures finds exactly the bad rows the generator planted. Timings are not asserted (they are the
benchmark's output, measured against a floor in the same run, not a test's)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import wdi_inputs

ROOT = Path(__file__).resolve().parents[1]


def test_generated_inputs_have_the_planted_faults_and_the_real_layouts(tmp_path):
    api = wdi_inputs.generate(tmp_path / "json", 40_000, "json", bad_share=0.01)
    bulk = wdi_inputs.generate(tmp_path / "csv", 40_000, "csv", bad_share=0.01)
    for expected in (api, bulk):
        assert sum(expected["faults"].values()) == 400 and min(expected["faults"].values()) == 100
        assert expected["loaded_rows"] == 40_000 - 300 - 100  # three kinds drop one row, a duplicate drops its original
    page = json.loads((tmp_path / "json" / "BENCH.IND.0000.p1.json").read_text())
    assert page[0]["per_page"] == 1000 and page[0]["pages"] == 18 and len(page[1]) == 1000
    assert set(page[1][0]) == {"indicator", "country", "countryiso3code", "date", "value", "unit", "obs_status", "decimal"}
    lines = (tmp_path / "csv" / "API_BENCH.IND.0000_DS2_en_csv_v2_1000.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == '"Data Source","World Development Indicators",' and lines[4].endswith('"2024",')


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_at_a_small_size(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--sizes", "30000", "--formats", "json,csv",
         "--inputs-dir", str(tmp_path / "inputs"), "--work-dir", str(tmp_path), "--out", str(tmp_path / "results"),
         "--dlt-python", sys.executable],  # no dlt here: the dlt baseline is skipped
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = next((tmp_path / "results").glob("scale-*.md")).read_text()
    assert report.count("— correct") == 2 and "floor: DuckDB read + table + Parquet" in report
    assert report.count("floor: DuckDB read + table + Parquet (runs ") == 2  # measured before ciw and after
    assert "nightly, nothing changed" in report
    assert report.count("| the same after parse, validate to publish") == 2  # as dlt is measured: from parsed rows
    # the cross-size table the README shows: one row per case, the path's time and memory ratios bold
    rows = [line for line in report.splitlines() if line.startswith("| 30000 | ")]
    assert [r.split(" | ")[1] for r in rows] == ["json", "csv"] and all(r.split(" | ")[5].startswith("**") for r in rows)
    stored = next((tmp_path / "results").glob("scale-*.json"))
    again = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--report", str(stored)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == report.strip()
