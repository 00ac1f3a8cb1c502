"""Open streams do not starve ordinary requests: gunicorn with the production config, in
production mode on PostgreSQL and Redis (private servers, tests/fault_harness.py), holds
200 live streams while pages and API calls are answered, and a referral sent meanwhile
reaches every one of the 200, whichever worker holds it (Redis pub/sub). With room for
fewer streams than are asked for, the rest are refused at once and ordinary requests are
still answered."""

from __future__ import annotations

import http.client
import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlencode

import pytest

from referral_hub.core.crypto import new_key
from tests.fault_harness import Api, hub, send_referral, token

STREAMS = 200
# "answered at all": each read may wait this long (far beyond any healthy answer)
GENEROUS_SECONDS = 60


def _sign_in(port: int, email: str, password: str) -> str:
    """The session cookie (`name=value`) of a staff member signed in through /login."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GENEROUS_SECONDS)
    try:
        connection.request("GET", "/login")
        page = connection.getresponse()
        body = page.read().decode()
        cookie = _cookie(page)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', body)
        assert csrf, body[:500]
        form = urlencode({"email": email, "password": password, "csrf_token": csrf.group(1)})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/login", body=form, headers=headers)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 302, answer.status
        return _cookie(answer)
    finally:
        connection.close()


def _cookie(response: http.client.HTTPResponse) -> str:
    value = response.getheader("Set-Cookie")
    assert value, "no session cookie"
    return value.split(";", 1)[0]


class Stream:
    """One open stream on a connection of its own, read a line at a time."""

    def __init__(self, port: int, cookie: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GENEROUS_SECONDS)
        self.connection.request("GET", "/live/referrals", headers={"Cookie": cookie})
        self.response = self.connection.getresponse()
        self.status = self.response.status

    def opened(self) -> bool:
        return self.status == 200 and self.response.readline().startswith(b"retry: ")

    def next_event(self) -> tuple[str, str]:
        fields: dict[str, str] = {}
        while True:
            raw = self.response.readline()
            assert raw, "the stream ended before its event"
            line = raw.decode().rstrip("\n")
            if line == "" and "event" in fields:
                return fields["event"], fields["data"]
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    def close(self) -> None:
        self.connection.close()


@pytest.mark.production_servers
@pytest.mark.parametrize("per_process", [200, 10])
def test_two_hundred_open_streams_leave_pages_and_the_api_answering(
    tmp_path: Path, per_process: int
) -> None:
    streams: list[Stream] = []
    try:
        with hub(
            tmp_path,
            HUB_ENV="production",
            SECRET_KEY=secrets.token_hex(32),
            FIELD_ENCRYPTION_KEYS=new_key(),
        ) as stack:
            world = stack.setup("")  # production refuses a loopback webhook receiver
            stack.env["WEB_LIVE_STREAMS"] = str(per_process)
            stack.start_web()
            email, password = world["provider"]
            cookie = _sign_in(stack.port, email, password)
            for _ in range(STREAMS):
                streams.append(Stream(stack.port, cookie))
            opened = [stream for stream in streams if stream.opened()]
            refused = [stream for stream in streams if stream not in opened]
            if per_process >= STREAMS:
                assert refused == [], f"{len(refused)} refused: {[s.status for s in refused]}"
            else:  # two workers: each takes its most, refuses the rest and says when to retry
                assert per_process <= len(opened) <= 2 * per_process
                assert {(s.status, s.response.getheader("Retry-After")) for s in refused} == {
                    (503, "5")
                }

            # with every stream open: pages, the API and the probes, each on a connection
            # of its own so both workers take some
            bearer = token(stack.port, tuple(world["sender"]))
            for _ in range(10):
                page = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
                page.request("GET", "/provider/", headers={"Cookie": cookie})
                inbox = page.getresponse()
                assert inbox.status == 200
                assert b"Referrals received" in inbox.read()
                page.close()
                api = Api(stack.port, bearer)
                assert api.call("GET", "/api/v1/referrals?box=sent&limit=1")[0] == 200
                assert api.call("GET", "/readyz")[0] == 200
                api.close()

            # and a referral sent now reaches every open stream, on either worker
            api = Api(stack.port, bearer)
            statuses, _, referral_id = send_referral(api, world["service_id"])
            api.close()
            assert statuses, statuses
            assert statuses[-1] == 201, statuses
            heard = [stream.next_event() for stream in opened]
            expected = ("referral", json.dumps({"referral": referral_id, "bundle": None}))
            assert set(heard) == {expected}
    finally:
        for stream in streams:
            stream.close()
