"""Ways back into an account without an administrator: a recovery code in place of a lost
phone's TOTP code, and a password reset by e-mailed link.

Neither way skips a factor: a recovery code stands in for the second factor after the
password; a reset link changes the password and signs the person out everywhere, and the
next sign-in asks for the second factor as before.

Password reset answers the same whether or not the address has an account, and does the
same work as far as practical: the rate limits count the address either way, a token is
made and sealed either way, and one audit event is written either way. The e-mail itself
is sent by the job runner after the answer, so the mail server's speed does not show.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from referral_hub.agencies.models import AgencyStatus, User
from referral_hub.agencies.service import check_new_password, find_user_by_email, password_hasher
from referral_hub.audit import service as audit
from referral_hub.auth import codes, ratelimit
from referral_hub.auth import service as auth
from referral_hub.auth.models import PasswordResetToken, digest
from referral_hub.auth.sessions import end_sessions_of
from referral_hub.core import clock, crypto
from referral_hub.core.actor import ANONYMOUS, Actor, user_actor
from referral_hub.core.errors import NotFound
from referral_hub.extensions import db
from referral_hub.notifications.service import send_email

TOKEN_BYTES = 32  # 256 random bits: a plain SHA-256 of it is a safe thing to store
MAX_TOKEN_LENGTH = 128


def _as_user(user: User) -> Actor:
    return user_actor(user.id, user.agency_id, frozenset(user.roles))


# --- recovery codes ---------------------------------------------------------------------------


def use_recovery_code(
    user_id: uuid.UUID, code: str, client_ip: str
) -> tuple[auth.SignInResult, int]:
    """Second step with a recovery code instead of a TOTP code: the code is spent, the
    person is told by e-mail, and the sign-in completes. Returns how many codes remain.

    Counted with TOTP attempts (a wrong code of either kind uses the same allowance).
    """
    user = db.session.get(User, user_id)
    if user is None or user.totp_secret is None:
        raise NotFound()
    keys = auth.refuse_if_second_factor_exhausted(user, client_ip)
    if not codes.spend(user.id, code):
        failed = auth.failed_second_factor(keys, user, "auth.recovery_code_failed", "wrong_code")
        return failed, codes.remaining(user.id)
    left = codes.remaining(user.id)
    audit.record(
        _as_user(user), "auth.recovery_code_used", ("user", user.id), details={"remaining": left}
    )
    send_email(user.email, "recovery_code_used")
    auth.complete_sign_in(user, factors=["password", "recovery_code"])
    return auth.SignInResult("done", user), left


def recovery_codes_left(user_id: uuid.UUID) -> int:
    return codes.remaining(user_id)


def regenerate_recovery_codes(
    user_id: uuid.UUID, totp_code: str, client_ip: str
) -> list[str] | None:
    """A new set from the account page, voiding the old one. A fresh TOTP code proves the
    phone is at hand (a borrowed session alone cannot mint codes). None: a wrong code."""
    user = db.session.get(User, user_id)
    if user is None or user.totp_secret is None:
        raise NotFound()
    keys = auth.refuse_if_second_factor_exhausted(user, client_ip)
    refused = auth.spend_totp_code(user, totp_code)
    if refused is not None:
        auth.failed_second_factor(keys, user, "auth.totp_failed", refused)
        return None
    new = codes.new_set(user.id)
    audit.record(
        _as_user(user),
        "auth.recovery_codes_generated",
        ("user", user.id),
        details={"recovery_codes": len(new)},
    )
    return new


# --- password reset by e-mailed link ----------------------------------------------------------


def request_password_reset(email: str, client_ip: str) -> None:
    """Send a reset link if the address belongs to an active account; the caller answers
    the same either way. Raises RateLimited past the per-address or per-client limits."""
    config = current_app.config
    window = int(config["PASSWORD_RESET_WINDOW_SECONDS"])
    by_account = f"reset:acct:{ratelimit.hashed(email)}"
    by_address = f"reset:ip:{client_ip}"
    for key, limit in (
        (by_account, config["PASSWORD_RESET_REQUESTS_PER_ACCOUNT"]),
        (by_address, config["PASSWORD_RESET_REQUESTS_PER_ADDRESS"]),
    ):
        ratelimit.refuse_if_exhausted([key], int(limit), window, "reset requests")
    ratelimit.count([by_account, by_address], window)

    token = secrets.token_urlsafe(TOKEN_BYTES)
    token_hash = digest(token)
    crypto.encrypt(token.encode())  # as sealing it for the e-mail does: no shortcut to time
    user = find_user_by_email(email)
    if user is None or not user.is_active or user.agency.status != AgencyStatus.ACTIVE:
        audit.record(
            ANONYMOUS,
            "auth.password_reset_requested",
            None,
            outcome="failure",
            details={"reason": "no_active_account"},
        )
        return
    # only the newest link works: asking again voids the earlier ones
    db.session.execute(delete(PasswordResetToken).where(PasswordResetToken.user_id == user.id))
    minutes = int(config["PASSWORD_RESET_LINK_MINUTES"])
    db.session.add(
        PasswordResetToken(
            user_id=user.id,
            token_hash=token_hash,
            expires_at=clock.now() + timedelta(minutes=minutes),
        )
    )
    db.session.flush()
    audit.record(
        ANONYMOUS,
        "auth.password_reset_requested",
        ("user", user.id),
        details={"link_minutes": minutes},
    )
    send_email(user.email, "password_reset", link_token=token)


def _live_link(token: str) -> tuple[PasswordResetToken, User] | None:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    row = db.session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == digest(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active or user.agency.status != AgencyStatus.ACTIVE:
        return None
    return row, user


def reset_link_works(token: str) -> bool:
    """Whether a link would still set a password (it is not used up by asking)."""
    return _live_link(token) is not None


def reset_password(token: str, password: str, client_ip: str) -> User | None:
    """Set a new password through a link; None if the link is not (or no longer) good.

    On success: the link is spent, every session of the account ends, the person is told
    by e-mail. The second factor stays as it was. A bad link counts as a failed attempt
    for the client address; a new password that breaks the rules raises ValidationFailed
    and changes nothing (the link still works).
    """
    keys = [f"reset:ip:{client_ip}"]
    limit, window = auth.failure_limits()
    ratelimit.refuse_if_exhausted(keys, limit, window, "failed password resets")
    found = _live_link(token)
    if found is None:
        ratelimit.count(keys, window)
        audit.record(
            ANONYMOUS,
            "auth.password_reset_failed",
            None,
            outcome="failure",
            details={"reason": "link_not_valid"},
        )
        return None
    row, user = found
    check_new_password(password)
    now = clock.now()
    spent = db.session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.id == row.id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(spent, "rowcount", 0):  # another request spent it a moment ago
        return None
    db.session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.user_id == user.id, PasswordResetToken.id != row.id
        )
    )
    user.password_hash = password_hasher().hash(password)
    end_sessions_of(user.id)
    audit.record(_as_user(user), "auth.password_reset", ("user", user.id), fields=["password"])
    send_email(user.email, "password_changed")
    return user
