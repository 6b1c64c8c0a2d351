"""``wangge serve`` in a child process on a free local port: a tool for the tests and the
benchmarks, which talk to real servers (the service itself never uses it).

    with WanggeServer(database_url) as server:   # started
        server.wait_ready()                      # /api/v1/health answers 200
        httpx.get(server.base + "/api/v1/grids")
                                                 # stopped on leaving the block

``tests/conftest.py`` (the ``serve_wangge`` fixture) and ``bench/`` use it; it needs nothing
beyond the standard library.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

HEALTH = "/api/v1/health"


class ServerError(RuntimeError):
    """The server stopped, or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the system's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wangge_command() -> list[str]:
    """The ``wangge`` command installed next to this Python."""
    return [str(Path(sys.executable).with_name("wangge"))]


def _status(url: str, timeout_s: float) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        return conn.getresponse().status
    finally:
        conn.close()


def wait_http(
    url: str,
    proc: subprocess.Popen | None = None,
    *,
    timeout_s: float = 60,
    interval_s: float = 0.1,
    request_timeout_s: float = 1,
    status: int | None = 200,
    describe=None,
) -> float:
    """Wait until ``url`` answers (with ``status``; None: any answer) and return the seconds waited.
    Raises :class:`ServerError` if ``proc`` exits first or nothing answers within ``timeout_s``;
    ``describe()``, if given, adds to the message (a log's tail, say)."""

    def extra() -> str:
        return ": " + describe() if describe else ""

    started, deadline = time.perf_counter(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"the server for {url} stopped with exit code {proc.returncode}" + extra())
        try:
            answered = _status(url, request_timeout_s)
            if status is None or answered == status:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(interval_s)
    raise ServerError(f"{url} did not answer within {timeout_s:g} s" + extra())


class WanggeServer:
    """``wangge serve --port <free port>`` on ``database_url``.

    ``env`` adds to (a value of None: leaves out) this process's environment; ``command``
    replaces the ``wangge`` command (``[python, "-m", "api.cli"]``, say); ``args`` follow
    ``serve``; other keywords go to :class:`subprocess.Popen` (standard output and error are
    piped together unless said otherwise, and :meth:`output` reads them).
    """

    def __init__(
        self,
        database_url: str,
        *,
        env: dict[str, str | None] | None = None,
        command: list[str] | None = None,
        args: tuple[str, ...] | list[str] = (),
        host: str | None = None,
        port: int | None = None,
        **popen,
    ):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        merged = {**os.environ, "WANGGE_DATABASE_URL": database_url, **(env or {})}
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.STDOUT)
        self.proc = subprocess.Popen(
            [
                *(command or wangge_command()),
                "serve",
                *(["--host", host] if host else []),
                "--port",
                str(self.port),
                *args,
            ],
            env={k: v for k, v in merged.items() if v is not None},
            **popen,
        )
        self.pid = self.proc.pid

    def output(self, last: int = 2000) -> str:
        """The last characters the server wrote to a pipe, once it has stopped ('' if not piped)."""
        pipe = self.proc.stdout if self.proc.stdout is not None else self.proc.stderr
        if pipe is None or self.proc.poll() is None:
            return ""
        return pipe.read().decode(errors="replace")[-last:]

    def wait_ready(self, path: str = HEALTH, **wait) -> float:
        """Wait until ``path`` answers 200 (see :func:`wait_http`); the seconds waited."""
        return wait_http(self.base + path, self.proc, describe=self.output, **wait)

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        """Ask the server to stop (if it still runs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout_s: float = 15, sig: int = signal.SIGTERM) -> None:
        """Stop the server: ``sig``, then kill it after ``timeout_s``."""
        self.terminate(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:  # a client still holds a connection open
            self.proc.kill()
            self.proc.wait(timeout=timeout_s)

    def __enter__(self) -> WanggeServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
