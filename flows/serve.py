"""`ciw serve`: bring up everything needed to operate (filled in by the operations issue)."""
from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    raise SystemExit("ciw serve is not implemented yet")
