"""Fan-out of changes to the streams open in this process, fed in-process (embedded mode)
or from one Redis pub/sub channel (production: every web process hears every change).

A change says only which referral (and bundle) changed and to which agencies: pages that
hear it fetch their fragment again through the normal, authorised route. Nothing here is
durable — a page that missed a change (its stream was down, Redis restarted) is told to
refresh (`RESYNC`), and polling stays as the floor.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """Ids only: no state, no names, nothing about her."""

    referral: str
    bundle: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"referral": self.referral, "bundle": self.bundle}


# "you may have missed something: refresh what you show" (the stream fell behind)
RESYNC = Change(referral="", bundle=None)
# "this stream ends now" (the channel was lost: the page reconnects or falls back to polling)
END = Change(referral="", bundle="")


class Subscription:
    """One open stream's mailbox. Bounded: a stream that stops reading gets RESYNC once
    instead of an ever-growing queue."""

    def __init__(self, agency_id: str, size: int = 64) -> None:
        self.agency_id = agency_id
        self._queue: queue.Queue[Change] = queue.Queue(maxsize=size)
        self._overflowed = False

    def put(self, change: Change) -> None:
        if change is END:  # must arrive, however full the queue
            self._overflowed = False
            self._drain()
        try:
            self._queue.put_nowait(change)
        except queue.Full:
            self._overflowed = True

    def get(self, timeout: float) -> Change | None:
        """The next change, or None when `timeout` seconds pass without one."""
        if self._overflowed:
            self._overflowed = False
            self._drain()
            return RESYNC
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


class LocalHub:
    """The subscriptions of this process, by agency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_agency: dict[str, set[Subscription]] = {}

    def subscribe(self, agency_id: str) -> Subscription:
        subscription = Subscription(agency_id)
        with self._lock:
            self._by_agency.setdefault(agency_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            held = self._by_agency.get(subscription.agency_id)
            if held is not None:
                held.discard(subscription)
                if not held:
                    del self._by_agency[subscription.agency_id]

    def deliver(self, agency_ids: Iterable[str], change: Change) -> int:
        with self._lock:
            targets = [s for a in set(agency_ids) for s in self._by_agency.get(a, ())]
        for subscription in targets:
            subscription.put(change)
        return len(targets)

    def end_all(self) -> None:
        with self._lock:
            targets = [s for held in self._by_agency.values() for s in held]
        for subscription in targets:
            subscription.put(END)

    def count(self) -> int:
        with self._lock:
            return sum(len(held) for held in self._by_agency.values())


class Broker(Protocol):
    name: str
    hub: LocalHub

    def publish(self, agency_ids: Iterable[str], change: Change) -> None: ...

    def subscribe(self, agency_id: str) -> Subscription: ...


class InProcessBroker:
    """Embedded mode: one process, so publishing is delivering."""

    name = "process"

    def __init__(self) -> None:
        self.hub = LocalHub()

    def publish(self, agency_ids: Iterable[str], change: Change) -> None:
        self.hub.deliver(agency_ids, change)

    def subscribe(self, agency_id: str) -> Subscription:
        return self.hub.subscribe(agency_id)


class RedisBroker:
    """Production: PUBLISH on one channel; each process that has streams keeps one
    listening connection (not one per stream) and hands messages to its own hub.

    The listener starts with the first stream of a process (gunicorn forks after loading
    the app: a thread started in the master would not exist in the workers).
    """

    name = "redis"

    def __init__(self, url: str, channel: str, connection: Any = None) -> None:
        from redis import Redis

        self.url = url
        self.channel = channel
        self.redis = connection or Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self.hub = LocalHub()
        self._listener: threading.Thread | None = None
        self._listener_pid = 0
        self._paused_until = 0.0
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # after a failed publish, the next few seconds' changes are not tried: while Redis is
    # away every commit would otherwise pay a connection attempt for nobody (the streams
    # ended with the channel, and their pages poll)
    PAUSE_AFTER_FAILURE_SECONDS = 5.0

    def publish(self, agency_ids: Iterable[str], change: Change) -> None:
        if time.monotonic() < self._paused_until:
            return
        message = {"to": sorted(set(agency_ids)), **change.as_dict()}
        try:
            self.redis.publish(self.channel, json.dumps(message))
        except Exception:
            self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_SECONDS
            raise

    def subscribe(self, agency_id: str) -> Subscription:
        """A stream is only opened while this process hears the channel: an open stream
        that could never carry a change would stop the page polling for nothing."""
        self._ensure_listener()
        if not self._ready.wait(self.LISTEN_WAIT_SECONDS):
            raise ConnectionError("the live channel is not available")
        return self.hub.subscribe(agency_id)

    LISTEN_WAIT_SECONDS = 2.0

    def _ensure_listener(self) -> None:
        with self._lock:
            alive = self._listener is not None and self._listener.is_alive()
            if alive and self._listener_pid == os.getpid():
                return
            self._ready.clear()
            self._listener_pid = os.getpid()
            self._listener = threading.Thread(target=self._listen, name="hub-live", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        from redis import Redis

        backoff = 0.5
        while True:
            # its own connection: quiet for minutes is normal on this one; the health
            # check pings it every 30 s so a connection dropped unseen is noticed
            client = Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=30)
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.channel)
                pubsub.get_message(timeout=1.0)  # the confirmation: listening from here on
                self._ready.set()
                backoff = 0.5
                while True:
                    message = pubsub.get_message(timeout=5.0)
                    if message is not None:
                        self._dispatch(message)
            except Exception as exc:
                log.warning("live channel lost (%s); its streams end", type(exc).__name__)
            finally:
                self._ready.clear()
                pubsub.close()
                client.close()
            # what is published from now until the channel is back would be missed: end
            # the streams; their pages poll, reconnect and refresh on reconnecting
            self.hub.end_all()
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            body = json.loads(message["data"])
            change = Change(referral=str(body["referral"]), bundle=body.get("bundle"))
            recipients = [str(a) for a in body["to"]]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable live message ignored")
            return
        self.hub.deliver(recipients, change)


class Slots:
    """At most `limit` streams at once in this process: each holds a server thread, and
    the threads beyond them must stay free for ordinary requests."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit) if limit > 0 else None

    def take(self) -> bool:
        return self._free is not None and self._free.acquire(blocking=False)

    def give_back(self) -> None:
        if self._free is not None:
            self._free.release()
