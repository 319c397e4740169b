"""A source batch is staged once into its own DuckDB file (flows/staging.py): the same rows whichever
route the parser takes, counted as before, and the file never outlives its batch."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime

import duckdb
import pytest

from flows import staging, steps
from flows.catalog import read_catalog
from flows.config import settings
from flows.registry import source
from flows.sources.http import SourceError


@pytest.fixture
def worldbank_batch(ciw_home):
    s = settings()
    src = source("worldbank")
    files = src.snapshot_files(s)  # API pages and a bulk CSV file
    assert {p.suffix for p in files} == {".json", ".csv"}
    extracted = steps.Extracted("worldbank", tuple(files), steps.batch_id_for("worldbank", files), steps.utcnow(), "file")
    return s, src, extracted, read_catalog(s)


def _staged_files(s) -> list:
    folder = staging.stage_dir(s)
    return sorted(folder.glob("*.duckdb")) if folder.exists() else []


def _batch_rows(batch: staging.StagedBatch) -> list[tuple]:
    # value_text as the rules see it: the route reading files in place keeps it only for non-numbers
    con = duckdb.connect()
    with batch.exposed(con):
        return con.sql("SELECT * REPLACE (CASE WHEN value IS NULL THEN value_text END AS value_text) "
                       "FROM batch ORDER BY row_id").fetchall()


def test_files_read_in_place_stage_the_rows_the_arrow_parser_gives(worldbank_batch):
    s, src, extracted, catalog = worldbank_batch
    files = list(extracted.files)
    constants = {"source_id": "worldbank", "publisher": "p", "licence": "l", "address": "a", "batch_id": "b"}
    captured = datetime(2025, 3, 4, 5, 6, 7)  # one file captured apart from the others
    staged = []
    for route in ("relation", "arrow"):
        con = duckdb.connect()
        rows = src.parse_rows(con, files) if route == "relation" else staging.from_arrow(con, src.parse(con, files))
        staged.append(staging.write(s, "worldbank", rows, con, retrievals={files[1].name: captured},
                                    default_retrieved_at=extracted.retrieved_at, catalog_indicators=catalog.indicators,
                                    constants=constants))
    relation_rows, arrow_rows = (_batch_rows(b) for b in staged)
    assert len(relation_rows) > 1000
    assert relation_rows == arrow_rows  # same rows, same order, same provenance
    con = duckdb.connect()
    with staged[0].exposed(con):
        when = dict(con.sql("SELECT source_file, any_value(retrieved_at) FROM batch GROUP BY 1 HAVING count(DISTINCT retrieved_at) = 1").fetchall())
    assert when[files[1].name] == captured and when[files[0].name] == extracted.retrieved_at
    assert len(when) == len(files)
    arrow = src.parse(duckdb.connect(), files)
    rows_in, rows_null, last_updated, seen = staging.summary(staged[0], duckdb.connect())
    assert rows_in == arrow.num_rows
    assert rows_null == sum(1 for v, t in zip(arrow["value"].to_pylist(), arrow["value_text"].to_pylist()) if v is None and t is None)
    assert last_updated == max(d for d in arrow["lastupdated"].to_pylist() if d is not None)
    # every series with its name, though the relation route stores a name once per page or CSV line
    assert set(zip(seen["indicator_id"].to_pylist(), seen["indicator_name"].to_pylist())) == set(
        zip(arrow["indicator_id"].to_pylist(), arrow["indicator_name"].to_pylist()))
    for b in staged:
        b.remove()
    assert _staged_files(s) == []


def test_staging_file_lives_until_the_batch_is_loaded_or_dropped(worldbank_batch):
    s, src, extracted, catalog = worldbank_batch
    v = steps.validate_source_batch(s, src, extracted, catalog)
    assert v.rejected is None and v.rows_good > 0
    assert _staged_files(s) == [v.staged.path]
    assert v.good.num_rows == v.rows_good  # the rows to load, read from the file
    v.discard()
    assert _staged_files(s) == []


def test_rejected_batch_leaves_no_staging_file(worldbank_batch):
    s, src, extracted, catalog = worldbank_batch
    live_like = steps.Extracted(extracted.source_id, extracted.files, extracted.batch_id, extracted.retrieved_at, "snapshot")
    huge = steps.PreviousLoad(batch_id="earlier", rules_hash=None, rows=10**9, series=())
    v = steps.validate_source_batch(s, src, live_like, catalog, huge)
    assert v.rejected and "row_count_not_collapsed" in v.rejected
    assert _staged_files(s) == []


def test_unreadable_page_names_its_file_and_leaves_nothing(worldbank_batch, tmp_path):
    s, src, extracted, catalog = worldbank_batch
    good = next(p for p in extracted.files if p.suffix == ".json")
    bad = tmp_path / "NY.GDP.MKTP.CD.p2.json"
    text = good.read_text(encoding="utf-8")
    mid = text.index("},", len(text) // 2) + 2
    bad.write_text(text[:mid] + "@@" + text[mid:], encoding="utf-8")  # the envelope reads, a row does not
    con = duckdb.connect()
    csv = next(p for p in extracted.files if p.suffix == ".csv")
    rows = src.parse_rows(con, [good, bad, csv])  # pages and a bulk CSV: the broken page is the one named
    with pytest.raises(SourceError) as err:
        staging.write(s, "worldbank", rows, con, retrievals={}, default_retrieved_at=extracted.retrieved_at,
                      catalog_indicators=catalog.indicators, constants={"source_id": "worldbank"})
    assert bad.name in str(err.value) and "worldbank" in str(err.value)
    assert _staged_files(s) == []


def test_files_of_dead_processes_are_removed_by_the_next_build(worldbank_batch):
    s = worldbank_batch[0]
    folder = staging.stage_dir(s)
    folder.mkdir(parents=True)
    host = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = folder / f"worldbank+0123456789ab+{dead.stdout.strip()}@{host}.duckdb"
    live = folder / f"worldbank+0123456789ab+{os.getpid()}@{host}.duckdb"
    elsewhere = folder / f"worldbank+0123456789ab+{dead.stdout.strip()}@another-host.duckdb"  # judged by age only
    forgotten = folder / f"worldbank+ba9876543210+{os.getpid()}@{host}.duckdb"
    for p in (stale, live, elsewhere, forgotten):
        duckdb.connect(str(p)).close()
    three_days_ago = time.time() - 3 * 86400
    os.utime(forgotten, (three_days_ago, three_days_ago))
    staging.remove_stale(s)
    assert _staged_files(s) == sorted([live, elsewhere])
