"""Settings for the test suite: fast, deterministic, no secrets from the environment."""

HUB_ENV = "testing"
TESTING = True
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105 - fixed test value
# a fixed Fernet key so tests can decrypt what they wrote
FIELD_ENCRYPTION_KEYS = ["x8FV2OcxCf0kc8qgpdFHBf2777wxNZdVKV31oICUEu8="]
LOG_JSON = True
# a fixed checkpoint-signing key, so tests can verify against its public key
AUDIT_SIGNING_KEY = "wok02BhUd8DrT2njDAgQl/1eOgVgF/yW1bUUxzTAUq0="
# cheap password hashing: the suite signs in hundreds of times
ARGON2_TIME_COST = 1
ARGON2_MEMORY_KIB = 1024
OUTBOX_SWEEP_SECONDS = 3600
