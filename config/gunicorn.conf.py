"""gunicorn settings for production; each is overridable from the environment."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# threaded workers: a request waiting on a row lock, the database or Redis leaves the
# process to another request. (gunicorn runs gthread whenever threads > 1, whatever the
# class says.) Measured on 2 cores: /healthz 3.1-3.7k/s with 1 thread, 4.0-4.2k/s with 4;
# the referral cycle rate the same within noise.
worker_class = os.environ.get("WORKER_CLASS", "gthread")
# Live pages hold a server-sent-events stream open (a thread each, mostly asleep on a
# queue). A process takes at most WEB_LIVE_STREAMS of them — the app refuses the next with
# 503 and the page polls — and has that many threads on top of WEB_THREADS, so streams
# can never take the threads ordinary requests need (docs/deploy.md, "Live pages").
live_streams = int(os.environ.get("WEB_LIVE_STREAMS", "200"))
os.environ["REFERRAL_HUB_LIVE_MAX_STREAMS"] = str(live_streams)
threads = int(os.environ.get("WEB_THREADS", "4")) + live_streams
timeout = 30
graceful_timeout = 30
keepalive = 5
# recycle workers now and then (a guard against slow leaks); with the app preloaded in the
# master a fresh worker starts in milliseconds instead of re-importing the hub
max_requests = 20000
max_requests_jitter = 2000
preload_app = True
accesslog = None  # the app logs each request itself, as JSON with its request id
errorlog = "-"
# the load balancer's address; the app trusts X-Forwarded-* only from there
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
