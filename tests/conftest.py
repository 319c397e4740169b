"""Shared fixtures: a private warehouse per test and one real Prefect server per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Prefect stays on this machine and inside the test session's own home (set before it is imported).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real local Prefect API (SQLite) for the session; flows run against it."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        from prefect.settings import PREFECT_API_URL

        yield PREFECT_API_URL.value()  # subprocesses point here instead of starting their own server


@pytest.fixture
def ciw_home(tmp_path, monkeypatch) -> Path:
    """Point the warehouse at a fresh folder for this test."""
    home = tmp_path / "warehouse"
    monkeypatch.setenv("CIW_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def published(tmp_path_factory, prefect_server) -> Path:
    """One nightly run on the bundled snapshot, shared by the read-only tests."""
    home = tmp_path_factory.mktemp("published") / "warehouse"
    old = os.environ.get("CIW_HOME")
    os.environ["CIW_HOME"] = str(home)
    try:
        from flows.pipeline import nightly

        nightly()
    finally:
        if old is None:
            os.environ.pop("CIW_HOME", None)
        else:
            os.environ["CIW_HOME"] = old
    return home


@pytest.fixture
def private_data(tmp_path, monkeypatch) -> Path:
    """A private copy of data/ for a test that edits the catalog or the evidence register, so tests
    running in parallel never see each other's edits (CIW_DATA points the pipeline at it)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    monkeypatch.setenv("CIW_DATA", str(data))
    return data


@pytest.fixture(autouse=True)
def _gx_records_written():
    """GX results are written after the publish (gx_record.write_pending): a test that validated something
    without publishing writes them at its end, so a failure shows in that test and never leaks into
    the next one."""
    yield
    from flows import gx_record

    gx_record.write_pending()
