"""Separate Python environments with other client versions (older DuckDB, duckdb-engine), as BI
tools embed them. Built with uv into .tools/compat/<name> and reused across sessions."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def compat_python(name: str, requirements: list[str]) -> Path:
    """Path to the python of an environment holding exactly `requirements` (created if needed)."""
    env = ROOT / ".tools" / "compat" / name
    py = env / "bin" / "python"
    stamp = env / ".requirements"
    wanted = "\n".join(requirements)
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return py
    shutil.rmtree(env, ignore_errors=True)
    uv = _uv()
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(env)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(py), *requirements], check=True,
                       env={**os.environ, "UV_COMPILE_BYTECODE": "0"})
    else:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *requirements], check=True)
    stamp.write_text(wanted)
    return py


def run_python(py: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(py), "-c", code, *args], capture_output=True, text=True, timeout=300)
