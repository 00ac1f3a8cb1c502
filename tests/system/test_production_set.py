"""What CI can check of the production set without a Docker engine."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_runs_unprivileged_from_a_locked_install_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    runtime = stages[-1]
    assert "uv sync --locked" in text
    user_lines = [line for line in runtime.splitlines() if line.startswith("USER ")]
    assert user_lines
    assert user_lines[-1].split()[1] not in ("root", "0")
    assert "HEALTHCHECK" in runtime
    assert "/healthz" in runtime
    assert 'CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]' in runtime
    assert (ROOT / ".dockerignore").read_text().count(".venv") == 1


def test_compose_has_the_whole_set_and_one_scheduler() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"db", "redis", "migrate", "web", "worker", "scheduler"}
    assert services["scheduler"]["deploy"]["replicas"] == 1
    for name in ("web", "worker", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["REFERRAL_HUB_HUB_ENV"] == "production"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["db"]
    assert "healthcheck" in services["redis"]
    assert "--requirepass" in services["redis"]["command"]
    assert "ports" not in services["redis"]
    assert "ports" not in services["db"]
    # only the workers, which run the checkpoint job, hold the audit signing key
    holders = [
        name
        for name, s in services.items()
        if "REFERRAL_HUB_AUDIT_SIGNING_KEY" in s.get("environment", {})
    ]
    assert holders == ["worker"]


def test_gunicorn_accepts_the_config_and_imports_the_app(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REFERRAL_HUB_HUB_ENV": "embedded",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
        "REDIS_URL": "",
        "REFERRAL_HUB_INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--check-config",
            "-c",
            "config/gunicorn.conf.py",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]


class _Gunicorn:
    """gunicorn with the production config on a free loopback port (embedded SQLite)."""

    def __init__(self, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "BIND": f"127.0.0.1:{self.port}",
            "REFERRAL_HUB_HUB_ENV": "embedded",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
            "REDIS_URL": "",
            "REFERRAL_HUB_INSTANCE_PATH": str(tmp_path),
        }
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"]
        self.log = tmp_path / "gunicorn.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our config
                [*command, "--no-control-socket", "wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_serving(self) -> None:
        while self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
                    if read_response(sock.makefile("rb"))[0] == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def read_response(stream: Any) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length: status, headers (lower-case), body."""
    status_line = stream.readline()
    assert status_line, "the server closed the connection without answering"
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Gunicorn]:
    server = _Gunicorn(tmp_path_factory.mktemp("gunicorn"))
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()


TWO_MIB = 2 * 1024 * 1024


def _chunked(sock: socket.socket) -> None:
    piece = b"x" * 65536
    for _ in range(TWO_MIB // len(piece)):
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    sock.sendall(b"0\r\n\r\n")


def _with_length(sock: socket.socket) -> None:
    sock.sendall(b"x" * TWO_MIB)


@pytest.mark.parametrize(
    ("framing", "send_body"),
    [("Transfer-Encoding: chunked", _chunked), (f"Content-Length: {TWO_MIB}", _with_length)],
)
def test_a_413_never_poisons_a_keep_alive_connection(
    gunicorn: _Gunicorn, framing: str, send_body: Callable[[socket.socket], None]
) -> None:
    """The oversized body is refused with 413 and `Connection: close` (its unread rest can
    never be taken for the next request), and the client's next connection is served."""
    with socket.create_connection(("127.0.0.1", gunicorn.port), timeout=30) as sock:
        head = f"POST /api/v1/agencies HTTP/1.1\r\nHost: hub\r\n{framing}\r\n"
        sock.sendall(f"{head}Content-Type: application/json\r\n\r\n".encode())
        sender = threading.Thread(target=_send_ignoring_reset, args=(sock, send_body))
        sender.start()
        status, headers, body = read_response(sock.makefile("rb"))
        sender.join(timeout=60)
        assert status == 413, body
        assert json.loads(body)["code"] == "payload_too_large"
        assert headers["connection"].lower() == "close"
    with socket.create_connection(("127.0.0.1", gunicorn.port), timeout=30) as sock:
        stream = sock.makefile("rb")
        for _ in range(2):  # and this one stays open between requests
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
            status, headers, _ = read_response(stream)
            assert status == 200
            assert headers["connection"].lower() == "keep-alive"


def _send_ignoring_reset(sock: socket.socket, send_body: Callable[[socket.socket], None]) -> None:
    with contextlib.suppress(OSError):  # the server may close before the last bytes
        send_body(sock)
