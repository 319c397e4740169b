"""Arguments of `ciw serve` (kept apart from flows/serve.py so the CLI can list them without
importing Prefect)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=4200, help="port of the local Prefect server (127.0.0.1)")
