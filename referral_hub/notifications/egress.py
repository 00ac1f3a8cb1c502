"""Outbound HTTP to an address the hub has checked, and to no other.

A webhook URL names a host the subscriber controls, so the hub must not be made to call
inwards (loopback, private ranges, cloud metadata). Three holes close here:

- **Hosts are read as the resolver reads them.** `https://2130706433/`, `https://127.1/`,
  `https://0x7f000001/` and `https://0177.0.0.1/` are all 127.0.0.1 to `inet_aton`, which
  the system resolver uses before any DNS; `ip_literal` gives the same answers.
- **Names are resolved and every address checked**, at registration and again at each
  delivery (a name may point elsewhere since).
- **The connection goes to the address checked** (`post` connects the socket to it), while
  TLS (SNI and certificate) and the `Host` header stay on the name: no second lookup, so
  no DNS-rebinding window between the check and the connect. Redirects are not followed.

Connections a receiver keeps alive are reused, but only for the very address they were
opened to after its check (`_Pool`): the check still runs before every delivery.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_INWARD_NAMES = ("localhost", ".localhost", ".local", ".internal", ".localdomain")


class Refused(ValueError):
    """The URL may not be called; the message says why, in words for its owner."""


@dataclass(frozen=True)
class Target:
    """A URL and the one address its connection may go to."""

    scheme: str
    host: str
    port: int
    path: str
    address: Address


def _ipv4_aton(host: str) -> ipaddress.IPv4Address | None:
    """IPv4 as `inet_aton` reads it: 1 to 4 parts, each decimal, 0x-hex or 0-octal; the
    last part fills the bytes left (so `127.1` is 127.0.0.1 and `10.1` is 10.0.0.1)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_PART.fullmatch(part) for part in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:], 16))
        elif len(part) > 1 and part.startswith("0"):
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = 0
    for value in leading:
        number = number << 8 | value
    return ipaddress.IPv4Address(number << 8 * (4 - len(leading)) | last)


def ip_literal(host: str) -> Address | None:
    """The address `host` already is (no lookup needed), or None for a name."""
    host = host.strip("[]")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    return _ipv4_aton(host[:-1] if host.endswith(".") else host)


def is_public(address: Address) -> bool:
    """Reachable on the public internet, and not an IPv4 inward address wrapped in IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = address.ipv4_mapped or address.sixtofour
        if address.teredo is not None:
            embedded = address.teredo[1]
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
    return bool(address.is_global) and not address.is_multicast


def resolve(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for `host` (the outside edge: DNS)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise Refused("The host name does not resolve.") from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused("The host name does not resolve.")
    return addresses


def check(url: str, *, public_only: bool) -> Target:
    """Where `url` may be called: in production (`public_only`) only https to a host whose
    every address is public; otherwise http or https to wherever it resolves."""
    parts = urllib.parse.urlsplit(url)
    allowed = ("https",) if public_only else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise Refused("Use https to a public host." if public_only else "Use an http(s) URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("The port is not a number from 1 to 65535.") from None
    host = parts.hostname
    if public_only and (host.rstrip(".") == "localhost" or host.endswith(_INWARD_NAMES)):
        raise Refused("Not a public host.")
    literal = ip_literal(host)
    addresses = [literal] if literal is not None else resolve(host, port)
    if public_only and not all(is_public(address) for address in addresses):
        raise Refused("Not a public address.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, addresses[0])


def _opened(address: tuple[str, int], timeout: float | None) -> socket.socket:
    """A TCP connection with Nagle off: http.client writes the headers and the body
    separately, and on a kept-alive connection the body would otherwise wait for the
    receiver's delayed ACK (40 ms on Linux) before it is sent."""
    sock = socket.create_connection(address, timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = str(target.address)

    def connect(self) -> None:
        self.sock = _opened((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = str(target.address)

    def connect(self) -> None:
        raw = _opened((self._address, self.port), self.timeout)
        # certificate and SNI are checked against the name in the URL, not the address
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


class _Pool:
    """Kept-alive connections per checked address, so a busy receiver costs one TCP (and
    TLS) handshake per worker rather than one per delivery.

    Keyed by scheme, name, port *and* the address `check` allowed: a connection is only
    ever reused for the address it was opened to, so pinning holds (a name that now
    resolves elsewhere gets a new key, checked first). An idle connection the receiver
    closed is dropped before use; one idle longer than `IDLE_SECONDS` is not reused.
    """

    IDLE_SECONDS = 30.0
    PER_KEY = 4

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int, str], list[tuple[float, Any]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(target: Target) -> tuple[str, str, int, str]:
        return (target.scheme, target.host, target.port, str(target.address))

    def take(self, target: Target) -> Any | None:
        """An idle connection to exactly this checked address, or None."""
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(self.key(target), [])
            while idle:
                since, connection = idle.pop()
                if now - since < self.IDLE_SECONDS and not _dropped(connection):
                    return connection
                connection.close()
        return None

    def give_back(self, target: Target, connection: Any) -> None:
        with self._lock:
            idle = self._idle.setdefault(self.key(target), [])
            if len(idle) < self.PER_KEY:
                idle.append((time.monotonic(), connection))
                return
        connection.close()

    def clear(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for _, connection in idle:
                    connection.close()
            self._idle.clear()


def _dropped(connection: Any) -> bool:
    """Whether the peer closed an idle connection (readable with nothing sent = EOF)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_pool = _Pool()


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST `body` to the checked address; the receiver's status (redirects not followed).

    A kept-alive connection to the same address is reused. If the receiver closed it
    between our check and the request (it sent no answer at all), the POST goes once more
    on a fresh connection: deliveries are at least once, and carry their id for that.
    """
    reused = _pool.take(target)
    if reused is not None:
        try:
            return _exchange(target, reused, body, headers, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            pass
    factory = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    return _exchange(target, factory(target, timeout), body, headers, timeout)


def _exchange(
    target: Target, connection: Any, body: bytes, headers: dict[str, str], timeout: float
) -> int:
    """One request and its whole answer; the connection goes back to the pool only when
    both sides mean to keep it open."""
    keep = False
    try:
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(_MAX_ANSWER)
        keep = not response.will_close and response.isclosed()
        return int(response.status)
    finally:
        if keep:
            _pool.give_back(target, connection)
        else:
            connection.close()


# what is read of a receiver's answer before the connection is given up (answers are not
# used; reading them is what lets the connection be reused)
_MAX_ANSWER = 64 * 1024
