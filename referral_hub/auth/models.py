"""Agency systems' OAuth clients and tokens, staff sessions, rate-limit counters, and the
ways back into an account (second-factor recovery codes, password reset links).

No secret is stored as given: client secrets, access tokens, session ids and password
reset tokens are kept as SHA-256 hashes (they are long random strings, so a plain hash is
enough), and looked up by hash. Recovery codes are kept as keyed hashes (see
`auth.recovery`).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_hub.agencies.models import Agency
from referral_hub.auth.scopes import SCOPES as SCOPES
from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiClient(UUIDPrimaryKey, Base):
    """An agency system allowed to call the API for its agency (OAuth client credentials)."""

    __tablename__ = "api_client"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # public keys only (a JWK Set) for `private_key_jwt`; None: secret-based only
    public_jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(64))

    agency: Mapped[Agency] = relationship()

    # --- what Authlib asks of a client ---------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        import hmac

        return self.is_active and hmac.compare_digest(self.secret_hash, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The secret works everywhere; a signed assertion at the token endpoint, once the
        client has registered public keys."""
        if method == "private_key_jwt":
            return endpoint == "token" and bool(self.public_jwks)
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def __repr__(self) -> str:
        return f"<ApiClient {self.client_id} agency={self.agency_id} active={self.is_active}>"


class AccessToken(UUIDPrimaryKey, Base):
    __tablename__ = "access_token"

    client_pk: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_client.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(400))
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]

    client: Mapped[ApiClient] = relationship()

    # --- what Authlib asks of a token ----------------------------------------------------
    def check_client(self, client: Any) -> bool:
        return bool(self.client_pk == client.id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> None:
        return None

    def get_client(self) -> ApiClient:
        return self.client

    def __repr__(self) -> str:
        return f"<AccessToken {self.id} client={self.client_pk} revoked={self.revoked_at}>"


class SeenAssertion(Base):
    """A client assertion's `jti`, kept until the assertion expires so it is used once.

    The primary key makes the second use fail in the database, whichever process tries.
    """

    __tablename__ = "seen_assertion"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class StaffSession(Base):
    """Server-side session: the cookie holds only a random id; logout deletes the row."""

    __tablename__ = "staff_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    expires_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<StaffSession user={self.user_id}>"


class RateLimitCounter(Base):
    """Fixed-window counters, for deployments without Redis."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)


class RecoveryCode(UUIDPrimaryKey, Base):
    """One single-use code that stands in for a TOTP code when the phone is lost.

    A user holds one set (ten when made); making a new set deletes the old one. Used codes
    stay, marked, so the account page can say how many are left.
    """

    __tablename__ = "recovery_code"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} user={self.user_id} used={self.used_at is not None}>"


class PasswordResetToken(UUIDPrimaryKey, Base):
    """A password reset link sent by e-mail: short-lived, single use, newest one only."""

    __tablename__ = "password_reset_token"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<PasswordResetToken {self.id} user={self.user_id} used={self.used_at is not None}>"


class AgencySso(Base):
    """An agency's own OpenID Connect provider, for its staff's single sign-on (optional).

    The client secret is encrypted with the field keys; it is never shown back, only
    whether it is set. Each e-mail domain belongs to at most one agency's provider.
    """

    __tablename__ = "agency_sso"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True
    )
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret: Mapped[bytes | None]
    email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    def __repr__(self) -> str:
        return f"<AgencySso agency={self.agency_id} enabled={self.enabled}>"


class SsoLink(UUIDPrimaryKey, Base):
    """Which provider subject signs in as which staff account: made on the first sign-in
    (matched by verified e-mail), then the only way that subject maps to an account."""

    __tablename__ = "sso_link"
    __table_args__ = (UniqueConstraint("issuer", "subject"), UniqueConstraint("user_id", "issuer"))

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    def __repr__(self) -> str:
        return f"<SsoLink {self.id} user={self.user_id}>"
