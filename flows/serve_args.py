"""Arguments of `ciw serve` (kept apart from flows/serve.py so the CLI can list them without
importing Prefect)."""
from __future__ import annotations

import argparse
import os

DEFAULT_CRON = "0 2 * * *"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=int(os.environ.get("CIW_PREFECT_PORT", "4200")),
                   help="port of the local Prefect server on 127.0.0.1 (default 4200, or $CIW_PREFECT_PORT)")
    p.add_argument("--api-url", default=os.environ.get("PREFECT_API_URL"),
                   help="use this existing Prefect server (e.g. http://prefect.internal:4200/api) instead of "
                        "starting one; default $PREFECT_API_URL, and a local server when neither is set")
    p.add_argument("--cron", default=os.environ.get("CIW_CRON", DEFAULT_CRON),
                   help=f'schedule of the nightly deployment (default "{DEFAULT_CRON}", or $CIW_CRON)')
    p.add_argument("--timezone", default=os.environ.get("CIW_TIMEZONE", "UTC"),
                   help="IANA timezone the cron schedule is read in, e.g. America/Guatemala (default $CIW_TIMEZONE, else UTC)")
    p.add_argument("--live", action="store_true",
                   help="the nightly deployment fetches from the publishers' APIs instead of the bundled snapshot")
    p.add_argument("--no-watcher", action="store_true",
                   help="do not watch the inbox (another `ciw serve` or an external tool emits ciw.file.landed)")
    p.add_argument("--poll-interval", type=float, default=float(os.environ.get("CIW_INBOX_POLL_SECONDS", "0.5")),
                   help="seconds between inbox scans (default 0.5); a file counts as complete once its size and "
                        "modification time have not changed for two scans in a row")
    p.add_argument("--limit", type=int, default=int(os.environ.get("CIW_RUN_LIMIT", "4")),
                   help="flow runs executed at once by this process (default 4); warehouse writes are serialised anyway")
