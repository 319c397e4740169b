"""`ciw serve`: everything needed to operate, started and stopped by one command.

Two processes of ours, so that Ctrl-C cannot reach the flow runs directly (a terminal sends SIGINT
to its whole foreground process group, which would kill runs mid-way and leave them "Running" in
Prefect forever):
- the front process (what the terminal runs) starts the serving process in a session of its own
  and turns Ctrl-C or SIGTERM into one SIGTERM for it;
- the serving process starts, unless pointed at an existing server, a Prefect server on 127.0.0.1
  whose home is `warehouse/.prefect/`, serves the two deployments (flows/deployments.py) and
  watches the inbox (flows/inbox.py). On SIGTERM it stops the watcher, then the runner (which
  cancels runs in flight, marking them Cancelled, and pauses the deployments), then the server's
  whole process group.
Each child gets SIGTERM if its parent dies without cleaning up (PR_SET_PDEATHSIG), so even a
`kill -9` of the front process leaves nothing behind.

Prefect reads its settings when it is imported, so every setting is put into the environment
before the first Prefect import (flows/cli.py imports nothing of Prefect for `ciw serve`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from flows.config import PROJECT_ROOT, settings
from flows.prefect_status import STATE_FILE  # where `ciw status` finds the running server

log = logging.getLogger("ciw.serve")


def quiet_env(home: Path) -> dict[str, str]:
    """Project-local Prefect home, no telemetry or promotional calls, fast polling of the runner."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": os.environ.get("PREFECT_RUNNER_POLL_FREQUENCY", "1"),
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
    }


def _pdeathsig() -> None:
    """In the server child: get SIGTERM if `ciw serve` dies without stopping us (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; the normal path stops the server explicitly
        pass


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


class LocalServer:
    """`prefect server start` on 127.0.0.1 in its own process group, logging to a file."""

    def __init__(self, home: Path, port: int, env: dict[str, str]):
        self.home, self.port, self.env = home, port, env
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.ui_url = f"http://127.0.0.1:{port}"
        self.log_path = home / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if not port_free(self.port):
            raise RuntimeError(
                f"port {self.port} on 127.0.0.1 is in use: pass --port N, or, if a Prefect server is "
                f"already listening there, use it with --api-url {self.api_url}")
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(self.env, PREFECT_SERVER_API_HOST="127.0.0.1", PREFECT_SERVER_API_PORT=str(self.port),
                   PREFECT_UI_API_URL=self.api_url, PREFECT_SERVER_LOGGING_LEVEL=os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"))
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_pdeathsig,
            )

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the Prefect server exited with code {self.proc.returncode}; see {self.log_path}:\n{self._log_tail()}")
            if healthy(self.api_url):
                return
            time.sleep(0.25)
        raise RuntimeError(f"the Prefect server did not answer on {self.api_url} within {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the server's process group, SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the server leads its own group
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                _wait_group_gone(pgid, 2.0)
                return
            except subprocess.TimeoutExpired:
                continue

    def _log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def ui_url_for(api_url: str) -> str:
    return api_url.rstrip("/").removesuffix("/api")


class _Stop(Exception):
    """SIGTERM/SIGINT before the runner took over."""


def run(args: argparse.Namespace) -> int:
    """The front process: start the serving process in its own session and relay stop signals."""
    from flows.deployments import check_cron, check_timezone

    (settings().warehouse_dir / ".prefect").mkdir(parents=True, exist_ok=True)  # before Prefect is imported
    try:
        check_timezone(args.timezone)
        check_cron(args.cron)
    except ValueError as exc:
        print(f"ciw serve: {exc}", file=sys.stderr)
        return 2
    opts = {k: v for k, v in vars(args).items() if k in _OPTIONS}
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.serve"], env={**os.environ, _ARGS_ENV: json.dumps(opts)},
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_pdeathsig,
    )

    def relay(signum, frame):  # noqa: ANN001 - signal handler signature
        try:
            child.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    old = {sig: signal.signal(sig, relay) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = child.wait()  # PEP 475: the wait resumes after each relayed signal
        return code if code >= 0 else 128 - code
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


_ARGS_ENV = "CIW_SERVE_ARGS"
_OPTIONS = ("port", "api_url", "cron", "timezone", "live", "no_watcher", "poll_interval", "limit")


def serve_main(args: argparse.Namespace) -> int:
    """The serving process: server (unless --api-url), deployments, watcher; stops on SIGTERM."""
    s = settings()
    home = s.warehouse_dir.resolve() / ".prefect"
    home.mkdir(parents=True, exist_ok=True)
    guard = _one_serve_per_warehouse(home)
    if guard is None:
        return 2
    # Entrypoints relative to the checkout ("flows/inbox.py:ingest_inbox_file"), whatever the
    # caller's directory; CIW_HOME made absolute first so the flow runs see the same warehouse.
    os.environ["CIW_HOME"] = str(s.warehouse_dir.resolve())
    os.chdir(PROJECT_ROOT)
    s = settings()
    env = quiet_env(home)
    os.environ.update(env)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("ciw").setLevel(logging.INFO)

    runner = None
    stop_requested = threading.Event()

    def stop(signum, frame):  # noqa: ANN001 - signal handler signature
        stop_requested.set()
        if runner is not None and runner.started:
            runner.handle_sigterm()  # graceful: cancel runs in flight, pause deployments, leave start()
        elif runner is None:
            raise _Stop(signal.Signals(signum).name)
        # else the runner is starting inside the event loop, where an exception raised by a signal
        # can be swallowed by a callback (it then served on, deaf to the stop): _serve stops it
        # as soon as it has started

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server: LocalServer | None = None
    watcher = None
    state = home / STATE_FILE
    try:
        if args.api_url:
            api_url, ui_url = args.api_url.rstrip("/"), ui_url_for(args.api_url)
            if not healthy(api_url, timeout=5.0):
                print(f"ciw serve: no Prefect server answers at {api_url}/health", file=sys.stderr)
                return 2
        else:
            server = LocalServer(home, args.port, env)
            server.start()
            server.wait_healthy()
            api_url, ui_url = server.api_url, server.ui_url
        os.environ["PREFECT_API_URL"] = api_url

        import asyncio

        from prefect.runner import Runner

        from flows import deployments, inbox
        from flows.registry import sources

        deps = deployments.build(cron=args.cron, timezone=args.timezone, live=args.live)
        dirs = inbox.source_dirs(s, sorted(sources()))
        runner = Runner(name=f"ciw-serve-{socket.gethostname()}", limit=args.limit, pause_on_shutdown=True)
        for d in deps:
            runner.add_deployment(d)
        if not args.no_watcher:
            watcher = inbox.InboxWatcher(dirs, inbox.emit_landed, interval=args.poll_interval).start()
        state.write_text(json.dumps({
            "pid": os.getpid(), "front_pid": os.getppid(), "api_url": api_url, "ui_url": ui_url,
            "warehouse": str(s.warehouse_dir), "server_pid": server.proc.pid if server and server.proc else None,
            "started_at": time.time(),
        }), encoding="utf-8")
        _banner(s, api_url, ui_url, server, args, dirs, watching=watcher is not None)
        asyncio.run(_serve(runner, stop_requested, stop))  # returns once the runner has stopped
        return 0
    except _Stop:
        return 0
    except RuntimeError as exc:
        print(f"ciw serve: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. the API refused a deployment: say so, then clean up
        log.exception("ciw serve failed")
        print(f"ciw serve: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not interrupt the cleanup
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if watcher is not None:
            watcher.stop()
        _drain_events()
        if server is not None:
            server.stop()
        state.unlink(missing_ok=True)
        print("ciw serve: stopped", file=sys.stderr, flush=True)


async def _serve(runner, stop_requested: threading.Event, on_signal) -> None:  # noqa: ANN001 - Runner, handler
    """Run the runner until it is stopped; a stop asked for while it was still starting (registering
    its deployments) takes effect once it has started."""
    import asyncio

    task = asyncio.ensure_future(runner.start())
    await asyncio.sleep(0)  # start() has run to its first await, where it takes SIGTERM for itself:
    signal.signal(signal.SIGTERM, on_signal)  # while it is starting, its handler would exit mid-setup
    asked = False
    while not task.done():
        if stop_requested.is_set() and runner.started and not asked:
            asked = True
            if not runner.stopping:  # the signal handler may have got there first
                runner.handle_sigterm()
        await asyncio.wait({task}, timeout=0.2)
    task.result()


def _one_serve_per_warehouse(home: Path):
    """Hold `ciw-serve.lock` for this process's life: a second `ciw serve` on the same warehouse
    would watch the same inbox and ingest every file twice. Returns the open lock file, or None."""
    import fcntl

    fh = open(home / "ciw-serve.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        try:
            info = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
            where = f" (pid {info.get('front_pid')}, UI {info.get('ui_url')})"
        except (OSError, ValueError):
            where = ""
        print(f"ciw serve: another ciw serve is already operating {home.parent}{where}", file=sys.stderr)
        return None
    return fh


def _drain_events() -> None:
    """Hand the events still queued (e.g. a file that just landed) to the server before it stops."""
    if "prefect.events.worker" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=5)
    except Exception:  # noqa: BLE001 - shutting down anyway
        pass


def _banner(s, api_url: str, ui_url: str, server: LocalServer | None, args: argparse.Namespace,
            dirs: dict[str, Path], watching: bool) -> None:
    where = f"local server, home {server.home}, log {server.log_path}" if server else "existing server"
    lines = [
        f"ciw serve: operating {s.warehouse_dir}",
        f"  Prefect UI:   {ui_url}",
        f"  Prefect API:  {api_url}  ({where})",
        f'  deployments:  ciw-nightly/nightly       cron "{args.cron}" in {args.timezone}'
        f" ({'live APIs' if args.live else 'bundled snapshot'})",
        "                ciw-inbox-file/ingest-file  on each ciw.file.landed event",
    ]
    if watching:
        lines.append("  inbox:        " + ", ".join(f"{d}/" for d in dirs.values()))
        lines.append("                drop a file there; it moves to processed/ or rejected/ (with <name>.reason.txt)")
    else:
        lines.append("  inbox:        not watched (--no-watcher)")
    lines.append(f"  other shells: export PREFECT_API_URL={api_url}   (ciw status then shows Prefect runs too)")
    lines.append("  Ctrl-C stops everything.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    # The serving process, started by run() with the options in CIW_SERVE_ARGS.
    sys.exit(serve_main(argparse.Namespace(**json.loads(os.environ.pop(_ARGS_ENV)))))
