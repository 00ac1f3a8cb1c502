"""Private servers for the fault-injection tests (tests/system/test_faults.py).

Each test gets a PostgreSQL cluster of its own (initdb into a temporary directory, trust
auth, loopback only), a redis-server of its own (no persistence: a restart comes back
empty, as a lost Redis would), and the hub's processes started as production starts them
and pointed at those two: gunicorn with config/gunicorn.conf.py (2 workers), the rq worker
(`python -m referral_hub.worker`, its loop in `referral_hub/jobs/worker.py`) and the
scheduler (`flask hub scheduler`); plus a loopback webhook receiver. Faults can then be
injected freely without disturbing the shared PostgreSQL (5432) and Redis (6379) that
parallel test workers use.

The application is built only in subprocesses (`python -m tests.fault_harness setup` and
`... check`), never in the test process, whose app and logging stay the suite's own.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _pg_bin() -> Path:
    """PostgreSQL's programs: $PG_BIN, else Debian's newest /usr/lib/postgresql/*/bin,
    else wherever `initdb` is on PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
PYTHON = sys.executable
PYCACHE = Path(tempfile.gettempdir()) / f"referral-hub-fault-tests-pycache-{os.getuid()}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> float:
    """Poll `check` until it holds; the seconds it took. AssertionError after `timeout`."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def tail(path: Path, lines: int = 40) -> str:
    """The end of a log file, for assertion messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- PostgreSQL -------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway cluster: initdb, pg_ctl start / stop / restart, trust auth, one database.

    PostgreSQL refuses to run as root, so when the tests run as root its programs run as
    the `postgres` system user, in a directory that user owns.
    """

    def __init__(self, parent: Path) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no PostgreSQL programs in {PG_BIN} (set PG_BIN)")
        # a short path of its own: a Unix socket path must stay under 108 bytes
        self.dir = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        self.data = self.dir / "data"
        self.log = parent / "postgres.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.running = False
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        options: dict[str, Any] = {}
        if self.as_root:
            options = {"user": "postgres", "group": "postgres", "extra_groups": []}
        done = subprocess.run(  # noqa: S603 - fixed programs, arguments of our own
            [str(PG_BIN / program), *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **options,
        )
        if done.returncode != 0:
            server_log = tail(self.dir / "server.log")
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}\n{server_log}")
        return done.stdout

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        log = self.dir / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-t", "30",
                  "-o", options, "start")  # fmt: skip
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash (no checkpoint; recovery replays the WAL on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("fast")
        with contextlib.suppress(OSError):  # kept beside the test's other logs
            shutil.copy(self.dir / "server.log", self.log)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Redis ------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, without persistence: after a restart it is empty."""

    def __init__(self, parent: Path) -> None:
        self.dir = parent / "redis"
        self.dir.mkdir()
        self.log = parent / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for("redis-server answers PING", self.ping, 10, 0.05)

    def stop(self) -> None:
        """Redis goes away (SIGTERM; nothing is saved, so its queues are lost)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


# --- webhook receiver -------------------------------------------------------------------


class Receiver:
    """A partner's webhook endpoint on loopback, counting deliveries by their id.

    `received` counts every POST that arrived whole (X-Hub-Delivery, which the body's `id`
    must equal: the outbox row's id); `referral_of` maps a delivery id to its referral.
    A receiver that follows the documented contract keeps only the first of each id.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.received: Counter[str] = Counter()
        self.referral_of: dict[str, str] = {}
        self.mismatched: list[str] = []
        self.lock = threading.Lock()
        self._hold = threading.Event()  # set: the next delivery waits for `release()`
        self.holding = threading.Event()  # set while a delivery waits
        self._release = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                delivery = self.headers.get("X-Hub-Delivery", "")
                with sink.lock:
                    sink.received[delivery] += 1
                    sink.referral_of[delivery] = body["data"].get("referral_id", "")
                    if body.get("id") != delivery:
                        sink.mismatched.append(delivery)
                if delay:
                    time.sleep(delay)  # widens the window between "sent" and "marked sent"
                if sink._hold.is_set() and not sink.holding.is_set():
                    sink.holding.set()
                    sink._release.wait(30)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hold_next(self) -> None:
        """Keep the next delivery waiting (its worker inside the job) until `release()`."""
        self._release.clear()
        self.holding.clear()
        self._hold.set()

    def release(self) -> None:
        self._hold.clear()
        self._release.set()

    def distinct(self) -> int:
        with self.lock:
            return len(self.received)

    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())

    def twice(self) -> dict[str, int]:
        with self.lock:
            return {delivery: n for delivery, n in self.received.items() if n > 1}

    def referrals(self) -> Counter[str]:
        """How many distinct deliveries each referral got (what a deduping receiver keeps)."""
        with self.lock:
            return Counter(self.referral_of.values())

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- HTTP client ------------------------------------------------------------------------


class Api:
    """One keep-alive connection; `call` returns (status, headers, parsed body or None).

    A connection the server dropped counts as status 599, so it shows up in the tallies;
    one left idle near gunicorn's keep-alive limit (5 s) is replaced before it is used, so
    that only real drops count.
    """

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.last_used = time.monotonic()

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else None
        if time.monotonic() - self.last_used > 3:
            self.connection.close()  # reconnects on the next request
        self.last_used = time.monotonic()
        try:
            self.connection.request(
                method, path, body=data, headers={**self.headers, **(headers or {})}
            )
            response = self.connection.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 599, {}, None
        answer = {k.lower(): v for k, v in response.getheaders()}
        parsed = None
        if raw and "json" in answer.get("content-type", ""):
            parsed = json.loads(raw)
        return response.status, answer, parsed

    def close(self) -> None:
        self.connection.close()


def token(port: int, credentials: tuple[str, str]) -> str:
    """An access token for an agency system (client credentials)."""
    basic = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/oauth/token",
            body=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    if status != 200:
        raise AssertionError(f"token endpoint answered {status}: {body!r}")
    return str(json.loads(body)["access_token"])


def send_referral(api: Api, service_id: str) -> tuple[list[int], str | None, str | None]:
    """Create a client and send her a referral; (statuses, client id, referral id)."""
    status, _, body = api.call(
        "POST",
        "/api/v1/clients",
        {"profile": {"language": "es"}},
        {"Idempotency-Key": uuid.uuid4().hex},
    )
    if status != 201:
        return [status], None, None
    client_id = str(body["id"])
    referral = {
        "client_id": client_id,
        "service_id": service_id,
        "urgency": "urgent",
        "data_categories": ["profile"],
    }
    second, _, body = api.call(
        "POST", "/api/v1/referrals", referral, {"Idempotency-Key": uuid.uuid4().hex}
    )
    return [status, second], client_id, (str(body["id"]) if second == 201 else None)


# --- the hub's processes ----------------------------------------------------------------


class Hub:
    """PostgreSQL, Redis and the hub's processes for one test; `close()` ends them all."""

    def __init__(self, workdir: Path, **settings: str) -> None:
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.pg: PrivatePostgres | None = None
        self.redis = PrivateRedis(workdir)
        self.port = free_port()
        instance = workdir / "instance"
        instance.mkdir()
        outside = (
            "DATABASE_URL",
            "REDIS_URL",
            "TEST_DATABASE_URL",
            "BIND",
            "WEB_CONCURRENCY",
            "PYTHONDONTWRITEBYTECODE",
        )
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("REFERRAL_HUB_") and key not in outside
        }
        self.env.update(
            {
                "REDIS_URL": self.redis.url,
                "REFERRAL_HUB_INSTANCE_PATH": str(instance),
                "REFERRAL_HUB_LOG_LEVEL": "WARNING",
                "REFERRAL_HUB_ACCESS_TOKEN_SECONDS": "3600",
                "REFERRAL_HUB_API_REQUESTS_PER_WINDOW": "1000000",
                "REFERRAL_HUB_OUTBOX_SWEEP_SECONDS": "1",
                "REFERRAL_HUB_OUTBOX_REQUEUE_AFTER_SECONDS": "2",
                "REFERRAL_HUB_OUTBOX_BACKOFF_BASE_SECONDS": "1",
                "BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": "2",
                "PYTHONUNBUFFERED": "1",
                # the processes here start a dozen times a test: share compiled bytecode
                # in a cache of their own (outside the repository), however the suite runs
                "PYTHONPYCACHEPREFIX": str(PYCACHE),
                **{f"REFERRAL_HUB_{key}": value for key, value in settings.items()},
            }
        )

    def start_servers(self) -> None:
        """The private PostgreSQL (with an empty `hub` database) and Redis."""
        self.pg = PrivatePostgres(self.workdir)
        self.pg.start()
        self.env["DATABASE_URL"] = self.pg.create_database("hub")
        self.redis.start()

    @property
    def postgres(self) -> PrivatePostgres:
        if self.pg is None:
            raise RuntimeError("start_servers() first")
        return self.pg

    # processes

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                [PYTHON, *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: rq's scheduler child goes with it
            )
        self.processes[name] = process
        return process

    def run(self, *args: str, timeout: float = 120) -> str:
        """A one-off command (setup, check) against this hub; its stdout."""
        done = subprocess.run(  # noqa: S603 - our own interpreter and modules
            [PYTHON, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def setup(self, sink_url: str) -> dict[str, Any]:
        """Migrate, then a sender, a shelter subscribed to `referral.sent` (unless `sink_url`
        is empty) with a provider who signs in (`provider`: e-mail and password), API
        credentials."""
        out = self.run("-m", "tests.fault_harness", "setup", "--sink", sink_url)
        return dict(json.loads(out.strip().splitlines()[-1]))

    def webhooks_settled(self) -> bool:
        """Every webhook row is marked delivered (or dead): from then on nothing can be sent
        again, since a worker holds a row's lock from before its POST until the row says
        delivered, and never sends a delivered row. So a check after this is exact, where a
        pause would only hope that a late duplicate had shown by then."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.env["DATABASE_URL"], poolclass=NullPool)
        try:
            with engine.connect() as connection:
                waiting = connection.scalar(
                    text(
                        "SELECT count(*) FROM outbox_message "
                        "WHERE kind = 'webhook' AND status = 'pending'"
                    )
                )
        finally:
            engine.dispose()
        return waiting == 0

    def check(self, answered: dict[str, list[str]]) -> dict[str, Any]:
        """The database's invariants after a run (see `check` below)."""
        path = self.workdir / "answered.json"
        path.write_text(json.dumps(answered))
        out = self.run("-m", "tests.fault_harness", "check", "--answered", str(path))
        return dict(json.loads(out.strip().splitlines()[-1]))

    def healthz(self) -> bool:
        api = Api(self.port)
        try:
            return api.call("GET", "/healthz")[0] == 200
        finally:
            api.close()

    def readyz(self) -> tuple[int, Any]:
        api = Api(self.port)
        try:
            status, _, body = api.call("GET", "/readyz")
            return status, body
        finally:
            api.close()

    def start_web(self) -> None:
        process = self._spawn(
            "gunicorn",
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.conf.py",
            # tests run several gunicorns at once: none may take the shared control socket
            "--no-control-socket",
            "wsgi:app",
        )
        wait_for(
            "gunicorn answers /healthz",
            lambda: process.poll() is None and self.healthz(),
            30,
        )
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{tail(self.log('gunicorn'))}")

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker", "-m", "referral_hub.worker")

    def take_wakeup(self) -> bool:
        """Take the deliveries' wake-up off Redis and drop it, as a worker killed right
        after taking it would: whether there was one to take."""
        from redis import Redis

        connection = Redis.from_url(self.redis.url)
        try:
            return connection.lpop("referral_hub:outbox:due") is not None
        finally:
            connection.close()

    def kill_worker(self) -> None:
        """SIGKILL the rq worker and its scheduler child: no handler runs, nothing is tidied."""
        self.stop("worker", signal.SIGKILL)

    def start_scheduler(self) -> None:
        self._spawn("scheduler", "-m", "flask", "--app", "wsgi", "hub", "scheduler")

    def stop(self, name: str, signum: int = signal.SIGKILL) -> None:
        """End a process and its group (SIGKILL unless told: nothing of theirs outlives a
        test, and no run depends on a clean shutdown)."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def logs(self, *names: str) -> str:
        return "\n".join(f"--- {name}.log\n{tail(self.log(name))}" for name in names)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        with contextlib.suppress(Exception):
            self.redis.close()
        if self.pg is not None:
            self.pg.close()


@contextlib.contextmanager
def hub(workdir: Path, **settings: str) -> Iterator[Hub]:
    """A Hub with its servers up; everything it started ends when the block does."""
    stack = Hub(workdir, **settings)
    try:
        stack.start_servers()
        yield stack
    finally:
        stack.close()


class Load:
    """Client threads running `step(api)` in a loop until stopped; every answer recorded.

    `answers` holds (monotonic time, status, Retry-After, content type, problem code,
    X-Request-Id) for every request.
    """

    def __init__(self, port: int, token: str, threads: int, step: Callable[[Api], Any]) -> None:
        self.answers: list[tuple[float, int, str | None, str, str | None, str | None]] = []
        self.results: list[Any] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.port, self.token, self.step = port, token, step
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        api = _RecordingApi(self.port, self.token, self)
        try:
            while not self.stopping.is_set():
                result = self.step(api)
                with self.lock:
                    self.results.append(result)
        finally:
            api.close()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


class _RecordingApi(Api):
    def __init__(self, port: int, token: str, load: Load) -> None:
        super().__init__(port, token)
        self.load = load

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        status, answer, parsed = super().call(method, path, body, headers)
        code = parsed.get("code") if isinstance(parsed, dict) else None
        with self.load.lock:
            self.load.answers.append(
                (
                    time.monotonic(),
                    status,
                    answer.get("retry-after"),
                    answer.get("content-type", ""),
                    code,
                    answer.get("x-request-id"),
                )
            )
        return status, answer, parsed


# --- subprocess side: built with the app ------------------------------------------------


STAFF_PASSWORD = "fault harness staff password"  # a private test server's


def _setup(sink: str) -> dict[str, Any]:
    import flask_migrate

    from referral_hub import create_app
    from referral_hub.agencies.models import AgencyKind
    from referral_hub.agencies.service import create_agency, create_user, password_hasher
    from referral_hub.auth.service import create_api_client
    from referral_hub.core.actor import SYSTEM, Actor, ActorKind
    from referral_hub.core.db import transaction
    from referral_hub.directory import service as directory
    from referral_hub.directory.capacity import set_capacity
    from referral_hub.directory.vocabulary import Category
    from referral_hub.extensions import db
    from referral_hub.notifications.webhooks import subscribe

    app = create_app()
    with app.app_context():
        flask_migrate.upgrade()
        with transaction():
            sender = create_agency(SYSTEM, name="Fault Sender", kind=AgencyKind.HOTLINE)
            shelter = create_agency(SYSTEM, name="Fault Shelter", kind=AgencyKind.SHELTER)
            beds = directory.create_service(
                SYSTEM, agency_id=shelter.id, category=Category.EMERGENCY_SHELTER, name="Beds"
            )
            set_capacity(SYSTEM, beds.id, total=1_000_000, available=1_000_000)
            client, secret = create_api_client(
                SYSTEM,
                agency_id=sender.id,
                name="faults",
                scopes=["clients:write", "referrals:write", "referrals:read"],
            )
            admin = Actor(ActorKind.USER, "faults", shelter.id, frozenset({"agency_admin"}))
            if sink:  # production mode refuses a loopback receiver: then none
                subscribe(admin, url=sink, events=["referral.sent"])
            # the shelter's provider, who signs in to the pages (live inbox tests)
            provider = create_user(
                SYSTEM,
                agency_id=shelter.id,
                email="provider@shelter.example",
                display_name="Shelter provider",
                roles=["provider"],
            )
            provider.password_hash = password_hasher().hash(STAFF_PASSWORD)
            world = {
                "service_id": str(beds.id),
                "sender": [client.client_id, secret],
                "provider": [provider.email, STAFF_PASSWORD],
            }
        for engine in db.engines.values():
            engine.dispose()
    return world


def _check(answered: dict[str, list[str]]) -> dict[str, Any]:
    """Referral, client, outbox and audit invariants, read from the database.

    `answered` holds the client and referral ids the API answered 201 for: each must exist
    (durability). Every referral in the database — answered or not: a request can commit
    and lose its answer — must have its `referral.created` and `referral.sent` events and
    exactly one `referral.sent` webhook row; every client her `client.created` event and
    her data key; and the audit chain must verify.
    """
    from sqlalchemy import func, select

    from referral_hub import create_app
    from referral_hub.audit import verification
    from referral_hub.audit.models import AuditEvent
    from referral_hub.clients.models import Client
    from referral_hub.core.keystore import ClientKey
    from referral_hub.extensions import db
    from referral_hub.jobs.models import OutboxMessage
    from referral_hub.referrals.models import Referral

    app = create_app()
    with app.app_context():
        session = db.session
        referrals = {str(i) for i in session.scalars(select(Referral.id))}
        clients = {str(i) for i in session.scalars(select(Client.id))}
        keys = {str(i) for i in session.scalars(select(ClientKey.client_id))}
        events: dict[str, set[str]] = {}
        for subject, action in session.execute(
            select(AuditEvent.subject_id, AuditEvent.action).where(
                AuditEvent.action.in_(["referral.created", "referral.sent", "client.created"])
            )
        ):
            events.setdefault(action, set()).add(str(subject))
        rows = session.execute(
            select(OutboxMessage.payload, OutboxMessage.status).where(
                OutboxMessage.kind == "webhook"
            )
        ).all()
        per_referral = Counter(
            payload.get("referral_id") for payload, _ in rows if payload["event"] == "referral.sent"
        )
        statuses = Counter(str(status) for _, status in rows)
        report, _how = verification.verify_stored(full=True)
        result = {
            "referrals": len(referrals),
            "clients": len(clients),
            "answered_referrals_missing": sorted(set(answered["referrals"]) - referrals),
            "answered_clients_missing": sorted(set(answered["clients"]) - clients),
            "referrals_without_created_event": sorted(
                referrals - events.get("referral.created", set())
            ),
            "referrals_without_sent_event": sorted(referrals - events.get("referral.sent", set())),
            "referrals_without_one_webhook": sorted(
                r for r in referrals if per_referral.get(r, 0) != 1
            ),
            "clients_without_created_event": sorted(clients - events.get("client.created", set())),
            "clients_without_key": sorted(clients - keys),
            "webhook_rows": dict(statuses),
            "webhook_ids": {
                str(i): str(s)
                for i, s in session.execute(
                    select(OutboxMessage.id, OutboxMessage.status).where(
                        OutboxMessage.kind == "webhook"
                    )
                )
            },
            "audit_events": session.scalar(select(func.count()).select_from(AuditEvent)),
            "audit_ok": report.ok,
            "audit_problem": None if report.ok else str(report.verification.reason),
        }
        session.rollback()
        for engine in db.engines.values():
            engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="fault-test helpers run with the app")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup").add_argument("--sink", required=True)
    sub.add_parser("check").add_argument("--answered", required=True)
    options = parser.parse_args()
    if options.command == "setup":
        print(json.dumps(_setup(options.sink)))
    else:
        print(json.dumps(_check(json.loads(Path(options.answered).read_text()))))


if __name__ == "__main__":
    main()
