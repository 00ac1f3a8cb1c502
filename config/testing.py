"""Settings for the test suite: fast, deterministic, no secrets from the environment."""

HUB_ENV = "testing"
TESTING = True
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105 - fixed test value
# a fixed Fernet key so tests can decrypt what they wrote
FIELD_ENCRYPTION_KEYS = ["x8FV2OcxCf0kc8qgpdFHBf2777wxNZdVKV31oICUEu8="]
LOG_JSON = True
OUTBOX_SWEEP_SECONDS = 3600
