"""Every setting the hub reads, with defaults that are safe for the embedded first run.

Override any of them with an environment variable named REFERRAL_HUB_<SETTING> (for
example REFERRAL_HUB_SECRET_KEY). DATABASE_URL and REDIS_URL are read without the prefix
too, as hosting platforms set them. Lists are comma-separated; booleans are true/false.
"""

# "embedded" (SQLite, jobs in-process, secrets kept in the instance folder) or
# "production" (refuses to start without real secrets; expects PostgreSQL and Redis).
HUB_ENV = "embedded"

# Signs sessions and cursors. Embedded mode generates one into the instance folder.
SECRET_KEY = ""

# Earlier secret keys, comma-separated, still accepted after SECRET_KEY is replaced (Flask
# reads them too). Second-factor recovery codes are hashed with a key derived from the
# secret key: keep the old one here until everyone has made a new set, or their codes stop
# working (their authenticator app still does).
SECRET_KEY_FALLBACKS: list[str] = []

# Fernet keys (urlsafe base64, 32 bytes), comma-separated, newest first. The first one
# encrypts; all of them decrypt, so a new key can be added before the old one is retired.
FIELD_ENCRYPTION_KEYS: list[str] = []

# SQLAlchemy URL. Empty means a SQLite file in the instance folder.
SQLALCHEMY_DATABASE_URI = ""

# Seconds to wait for PostgreSQL to accept a connection before the request answers 503.
DATABASE_CONNECT_TIMEOUT_SECONDS = 5

# Where clients' data keys live: a database of its own, so that backups of the main
# database never hold the keys that open the data in them (erasure depends on it).
# Empty: a SQLite file beside the main one in embedded mode, the main database otherwise.
KEYSTORE_DATABASE_URI = ""

# Redis for rq jobs (and later shared rate limits). Empty: jobs run in this process.
REDIS_URL = ""

# How jobs run: "rq" (needs REDIS_URL), "thread" (in this process) or "inline" (at once,
# in the caller; the test suite's choice). Empty: rq when REDIS_URL is set, else thread.
JOB_RUNNER = ""

# rq queue name, and the prefix of the hub's other Redis keys (the test suite gives each
# parallel worker its own).
RQ_QUEUE = "referral_hub"
REDIS_KEY_PREFIX = "referral_hub"

# Live pages (provider inbox, intake bundle): server-sent events of "a referral changed".
# Each open stream holds a server thread, so a process serves at most LIVE_MAX_STREAMS of
# them (config/gunicorn.conf.py sets it from WEB_LIVE_STREAMS and adds that many threads);
# past it a page is told to come back after LIVE_RETRY_SECONDS and polls meanwhile. A
# stream sends a comment every LIVE_HEARTBEAT_SECONDS (load balancers drop silent
# connections) and ends after at most LIVE_MAX_SECONDS; the browser then reconnects,
# possibly to another process, and the session is checked again.
LIVE_MAX_STREAMS = 200
LIVE_HEARTBEAT_SECONDS = 15
LIVE_MAX_SECONDS = 300
LIVE_RETRY_SECONDS = 5

# Run periodic sweeps on a timer thread inside the web process (embedded mode only;
# production runs exactly one `flask hub scheduler`).
RUN_EMBEDDED_SCHEDULER = False

# Seconds between runs of each periodic task.
OUTBOX_SWEEP_SECONDS = 15
IDEMPOTENCY_PURGE_SECONDS = 3600

# An outbox row is re-enqueued by the sweeper if still undelivered this long after it
# was last handed to the queue; failed deliveries back off exponentially up to the cap.
OUTBOX_REQUEUE_AFTER_SECONDS = 60
OUTBOX_MAX_ATTEMPTS = 8
OUTBOX_BACKOFF_BASE_SECONDS = 10
OUTBOX_BACKOFF_MAX_SECONDS = 3600
# The worker drains due rows when a commit wakes it through Redis, and also this often
# without a wake-up (retries coming due; all deliveries while Redis is away). Under 2 s,
# Redis' socket timeout.
OUTBOX_POLL_SECONDS = 1.0
# Delivered rows (ids and statuses only) are kept this long for agency admins to look
# back on, then purged hourly; dead rows stay until someone deals with them.
OUTBOX_RETENTION_DAYS = 14

# --- Audit checkpoints ------------------------------------------------------------------
# The Ed25519 key that signs checkpoints of the audit chain: base64 of its 32-byte seed
# (`flask hub audit-keygen` makes one) or a PEM. Only the process running jobs needs it;
# web processes never do. Embedded mode generates one into the instance folder. To rotate,
# set a new key: later checkpoints carry the new key id, earlier ones still verify with
# the old public key, which stays listed at /api/v1/audit/public-key.
AUDIT_SIGNING_KEY = ""
# How often the checkpoint job looks at the chain, and when it signs: once this many
# events have been added since the last checkpoint, or this many minutes have passed
# with any new event.
AUDIT_CHECKPOINT_SECONDS = 30
AUDIT_CHECKPOINT_EVERY_EVENTS = 1000
AUDIT_CHECKPOINT_EVERY_MINUTES = 10

# An Idempotency-Key held this long by a request that never finished may be taken over.
IDEMPOTENCY_IN_FLIGHT_SECONDS = 300

# --- Identity and access -------------------------------------------------------------
# Lifetime of OAuth access tokens issued to agency systems (client credentials).
ACCESS_TOKEN_SECONDS = 900
# Each web process remembers a checked token this long instead of reading it on every
# call. A token revoked, or its client or agency suspended, through another process still
# works here for at most this long; in the process that did it, not at all. 0 turns it off.
BEARER_CACHE_SECONDS = 5

# Staff sessions: ended after this long without a request, and this long after sign-in.
SESSION_IDLE_MINUTES = 30
SESSION_ABSOLUTE_HOURS = 12
SESSION_COOKIE_NAME = "hub_session"

# Sign-in and token endpoints: failures allowed per account and per client address in
# one window before 429 (with Retry-After).
AUTH_FAILURES_PER_WINDOW = 5
AUTH_FAILURE_WINDOW_SECONDS = 60
# OAuth endpoints: failed client authentications allowed per client address in one window,
# counted apart from each client id's (a shared office NAT serves many agency systems).
OAUTH_ADDRESS_FAILURES_PER_WINDOW = 50

# Every authenticated caller: requests allowed per window across all API endpoints.
API_REQUESTS_PER_WINDOW = 600
API_WINDOW_SECONDS = 60

# A cursor of the audit trail works for the caller it was issued to, this long.
AUDIT_CURSOR_SECONDS = 900

# How many proxies in front of the hub set X-Forwarded-For / -Proto / -Host (0: none;
# then the client address is the socket's). Only trust what your load balancer adds.
TRUSTED_PROXIES = 0

# CSRF tokens are bound to the (server-side) session and live as long as it does.
WTF_CSRF_CHECK_DEFAULT = False
WTF_CSRF_TIME_LIMIT = None
WTF_CSRF_HEADERS = ["X-CSRFToken"]
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = False  # forced on in production

# argon2id cost for staff passwords (RFC 9106 second recommended option: 3 passes,
# 64 MiB). Raising it rehashes each password at its owner's next sign-in.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 65536

# Name shown in authenticator apps next to the TOTP code.
TOTP_ISSUER = "Referral hub"

# Second-factor recovery codes: how many make a set. A set is shown once, when TOTP is
# turned on and whenever the person makes a new one from their account page (which voids
# the old one); each code works once in place of a TOTP code.
RECOVERY_CODES_PER_SET = 10

# Password reset by e-mailed link: how long a link works (once), and how many reset
# requests one e-mail address and one client address may make per window. Every request
# counts, whether or not the address has an account, so the limit tells nothing about it.
PASSWORD_RESET_LINK_MINUTES = 30
PASSWORD_RESET_REQUESTS_PER_ACCOUNT = 3
PASSWORD_RESET_REQUESTS_PER_ADDRESS = 20
PASSWORD_RESET_WINDOW_SECONDS = 3600

# --- Directory -------------------------------------------------------------------------
# How long a capacity figure stays true: beds (shelter, transitional housing) and
# everything else. Fresh under a quarter of this, aging up to it, stale past it.
CAPACITY_TTL_BED_HOURS = 8.0
CAPACITY_TTL_OTHER_HOURS = 168.0
# How often agencies with stale capacity are reminded (at most once per TTL each).
STALE_REMINDER_SECONDS = 900

# --- Clients and consent ---------------------------------------------------------------
# How often the expiry sweep marks consents past their end (reads check the clock anyway).
CONSENT_EXPIRY_SECONDS = 60
# A client is erased (her data key destroyed) this many days after her last referral
# ended, when no consent is active. The sweep runs every ERASURE_SWEEP_SECONDS.
ERASE_AFTER_DAYS = 90
ERASURE_SWEEP_SECONDS = 3600

# --- Referrals to organisations not on the hub ---------------------------------------
# A one-time link to an outside referral works this many hours (then a plain refusal).
OUTSIDE_LINK_HOURS = 72
# Requests to link pages allowed per client address in one window (429 above).
OUTSIDE_LINK_REQUESTS_PER_WINDOW = 30
OUTSIDE_LINK_WINDOW_SECONDS = 900

# --- The survivor's own door (/me) ---------------------------------------------------
# Her access code works until her last consent ends plus this many days.
SURVIVOR_CODE_GRACE_DAYS = 30
# Wrong PINs in a row that lock a code, and for how long (her agency is told).
SURVIVOR_CODE_FAILURES = 5
SURVIVOR_CODE_LOCK_MINUTES = 60
# Failed sign-ins allowed per client address in one window, whatever the code (429 above).
SURVIVOR_ADDRESS_FAILURES_PER_WINDOW = 20
SURVIVOR_ADDRESS_WINDOW_SECONDS = 900
# Her session ends after this long without a request.
SURVIVOR_IDLE_MINUTES = 15
# Where "quick exit" takes her: a neutral site that replaces the page in her history.
SURVIVOR_EXIT_URL = "https://www.google.com/search?q=weather+today"
# A coordinator's nudge from the in-limbo queue (an e-mail to one side of a referral): at
# most one per referral and side in this many minutes. Every nudge reaches every provider
# (or intake worker) of the agency: repeated sooner it is noise, and two coordinators on
# the same queue would each send one. 15: the time the hub gives an emergency's first answer.
LIMBO_NUDGE_MINUTES = 15
# The hub's hotline (staffed day and night): on the safe receipt and her pages.
HUB_HOTLINE = "+1 555 0100"  # a fictitious number: set your own
# Hours the owning agency has to confirm an erasure she asked for while help was open;
# past it, coordinators are told. Checked every ERASURE_SWEEP_SECONDS.
ERASURE_REQUEST_HOURS = 72

# --- Referrals ---------------------------------------------------------------------------
# How often deadlines are checked: reminders, escalation to coordinators, expiry, no-shows.
DEADLINE_SWEEP_SECONDS = 60

# Largest accepted request body, in bytes (413 above it).
MAX_CONTENT_LENGTH = 1024 * 1024

# Where e-mails go. Empty SMTP_HOST: written as .eml files to MAIL_FOLDER (relative to
# the instance folder), so nothing leaves the machine in the embedded default.
SMTP_HOST = ""
SMTP_PORT = 587
SMTP_USERNAME = ""
SMTP_PASSWORD = ""
SMTP_STARTTLS = True
# Staff pages show times, and read times typed into forms, in this IANA zone.
DISPLAY_TIMEZONE = "UTC"
MAIL_FROM = "referral-hub@localhost"
MAIL_FOLDER = "mail"

# The hub's public base URL, used in e-mails ("you have an action in the hub").
PUBLIC_URL = "http://127.0.0.1:5000"

# Log level and format: JSON lines (for log shippers) or plain text (for a terminal).
# Empty: JSON in production, text in embedded mode.
LOG_LEVEL = "INFO"
LOG_JSON = ""

# SQLite: milliseconds a writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Seconds /readyz waits for the database and Redis before calling them down.
READINESS_TIMEOUT_SECONDS = 1.0

# OpenAPI document (served at /openapi.json, browsable at /docs).
API_TITLE = "referral_hub"
API_VERSION = "v1"
OPENAPI_VERSION = "3.1.0"
OPENAPI_URL_PREFIX = "/"
OPENAPI_JSON_PATH = "openapi.json"
API_SPEC_OPTIONS = {
    "info": {
        "description": (
            "Live capacity and consented referrals between anti-trafficking agencies. "
            "Agency systems authenticate with OAuth 2.0 client credentials at /oauth/token; "
            "staff pages call the same API with their session (and an X-CSRFToken header). "
            "Errors are RFC 9457 problem details with a machine `code`; creating POSTs "
            "accept an `Idempotency-Key` header; lists page with `limit` and `cursor`."
        )
    },
    "components": {
        "securitySchemes": {
            "oauth2": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "/oauth/token",
                        "scopes": {
                            "directory:read": "Read agencies, services and capacity",
                            "capacity:write": "Keep the agency's capacity true",
                            "clients:write": "Create clients and record consent",
                            "clients:read": "Read clients as consent allows",
                            "referrals:read": "Read sent and received referrals",
                            "referrals:write": "Send and act on referrals",
                            "audit:read": "Read the audit trail and reports",
                            "admin": "Administer the agency's staff and settings",
                        },
                    }
                },
            },
            "session": {"type": "apiKey", "in": "cookie", "name": "hub_session"},
        }
    },
}

# Flask debug mode: never in production (the hub refuses to start with it).
DEBUG = False
TESTING = False

# Single sign-on: an agency's OpenID Connect issuer must be https. Only a test or a local
# demo provider on plain http may turn this on.
SSO_ALLOW_PLAIN_HTTP = False
