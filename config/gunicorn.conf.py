"""gunicorn settings for production; each is overridable from the environment."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# sync workers: the hub's requests are short and CPU-bound, and the load balancer buffers slow
# clients (measured: 3.6k /healthz/s with sync, 1.3k with gthread, on 2 cores)
worker_class = os.environ.get("WORKER_CLASS", "sync")
threads = int(os.environ.get("WEB_THREADS", "4"))
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
