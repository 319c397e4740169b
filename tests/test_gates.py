"""Batch gates: a whole-source batch that looks broken against the previous load is rejected whole."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flows.catalog import read_catalog
from flows.config import settings
from flows.registry import source
from flows.steps import Extracted, PreviousLoad, batch_id_for, validate_source_batch

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot" / "worldbank"
WB = source("worldbank")


def batch(files: list[Path], mode: str = "live", retrieved: datetime = datetime(2026, 7, 2)) -> Extracted:
    return Extracted("worldbank", tuple(files), batch_id_for("worldbank", files), retrieved, mode)


def previous(rows: int = 8000, series: tuple[str, ...] = ()) -> PreviousLoad:
    return PreviousLoad(batch_id="worldbank-old", rules_hash=None, rows=rows, series=series)


@pytest.fixture(scope="module")
def catalog():
    return read_catalog(settings())


def test_a_collapsed_row_count_rejects_the_batch(catalog, ciw_home):
    v = validate_source_batch(settings(), WB, batch([SNAPSHOT / "SP.POP.TOTL.json"]), catalog, previous(rows=8000))
    assert v.rejected and "row_count_not_collapsed" in v.rejected and "worldbank" in v.rejected
    assert v.good.num_rows == 0


def test_a_series_going_missing_rejects_the_batch_naming_it(catalog, ciw_home):
    v = validate_source_batch(
        settings(), WB, batch([SNAPSHOT / "SP.POP.TOTL.json"]), catalog,
        previous(rows=200, series=("SP.POP.TOTL", "VC.IHR.PSRC.P5")),
    )
    assert v.rejected and "no_series_missing" in v.rejected and "VC.IHR.PSRC.P5" in v.rejected


def test_a_stale_source_is_rejected(catalog, ciw_home):
    # the snapshot says the World Bank last updated this series on 2026-07-01; retrieved in 2028
    v = validate_source_batch(settings(), WB, batch([SNAPSHOT / "SP.POP.TOTL.json"], retrieved=datetime(2028, 1, 1)), catalog)
    assert v.rejected and "source_not_stale" in v.rejected and "2026-07-01" in v.rejected


def test_a_healthy_batch_passes_every_gate(catalog, ciw_home):
    files = [SNAPSHOT / "SP.POP.TOTL.json", SNAPSHOT / "VC.IHR.PSRC.P5.json"]
    v = validate_source_batch(settings(), WB, batch(files), catalog, previous(rows=400, series=("SP.POP.TOTL", "VC.IHR.PSRC.P5")))
    assert v.rejected is None and v.good.num_rows > 300


def test_a_single_ingested_file_is_not_compared_with_the_whole_source(catalog, ciw_home):
    v = validate_source_batch(
        settings(), WB, batch([SNAPSHOT / "SP.POP.TOTL.json"], mode="file", retrieved=datetime(2030, 1, 1)), catalog,
        previous(rows=8000, series=("VC.IHR.PSRC.P5",)),
    )
    assert v.rejected is None
