"""gunicorn on a free loopback port, with the target's environment; always stopped."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.db import BenchError, Target

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/login/")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _tail(path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Served:
    """A running gunicorn master for one target."""

    target: Target
    workers: int
    proc: subprocess.Popen
    port: int

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_text(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "running"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed by {name}"
        return f"exited with {code}"


def start(target: Target, *, workers: int, startup_timeout: float = 60) -> Served:
    """Serve ``anke.wsgi`` on 127.0.0.1:<free port> once it answers; the caller stops it.

    It runs in the target's checkout (cwd and PYTHONPATH), so it serves that code version.
    """
    port = free_port()
    log_path = target.var_dir / "gunicorn.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "anke.wsgi:application",
             "--bind", f"{HOST}:{port}", "--workers", str(workers),
             # As `anke run` serves: threaded workers with keep-alive.
             "--worker-class", "gthread", "--threads", "4",
             "--log-level", "warning", "--timeout", "60", "--graceful-timeout", "5"],
            cwd=target.code_dir, env=target.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _answers(port):
            if proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {proc.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn did not answer within {startup_timeout:.0f} s:\n"
                                 f"{_tail(log_path)}")
            time.sleep(0.2)
    except BaseException:
        stop(proc)
        raise
    return Served(target, workers, proc, port)


@contextlib.contextmanager
def gunicorn(target: Target, *, workers: int, startup_timeout: float = 60) -> Iterator[int]:
    """Serve ``anke.wsgi`` on 127.0.0.1:<free port>; yield the port; stop it on the way out."""
    served = start(target, workers=workers, startup_timeout=startup_timeout)
    try:
        yield served.port
    finally:
        stop(served.proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the master (it stops its workers); SIGKILL its process group if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
        return
    except subprocess.TimeoutExpired:
        pass
    # start_new_session made the master the leader of a group holding only it and its workers.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
