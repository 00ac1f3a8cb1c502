"""Wiring features into the app: blueprints, job queue, periodic tasks, access, CLI.

The one place that knows every feature; each feature knows only those below it.
"""

from __future__ import annotations

from flask import Flask

from referral_hub.extensions import api


def _withdraw_referrals(
    _sender: object, consent_id: object, reason: str, agency_id: object = None
) -> None:
    from referral_hub.referrals import outside
    from referral_hub.referrals import service as referrals

    referrals.withdraw_under_consent(consent_id, reason, agency_id)  # type: ignore[arg-type]
    referrals.end_access_under_consent(consent_id, reason, agency_id)  # type: ignore[arg-type]
    # referrals outside the hub too (a consent names an outside organisation as a recipient)
    outside.withdraw_under_consent(consent_id, reason, agency_id)  # type: ignore[arg-type]
    outside.end_access_under_consent(consent_id, reason, agency_id)  # type: ignore[arg-type]


def register(app: Flask) -> None:
    from referral_hub import cli
    from referral_hub.agencies.api import blp as agencies_blp
    from referral_hub.api.health import blp as health_blp
    from referral_hub.audit import checkpoints
    from referral_hub.audit.api import blp as audit_blp
    from referral_hub.auth import assertions, guards, oauth, ratelimit, sessions
    from referral_hub.auth import service as auth
    from referral_hub.auth.api import blp as access_blp
    from referral_hub.auth.oauth_views import blp as oauth_blp
    from referral_hub.clients.api import blp as clients_blp
    from referral_hub.consent import service as consent
    from referral_hub.consent.api import blp as consent_blp
    from referral_hub.core import idempotency
    from referral_hub.directory import overflow
    from referral_hub.directory.api import blp as directory_blp
    from referral_hub.directory.capacity import remind_stale
    from referral_hub.extensions import csrf
    from referral_hub.fhir import outcome as fhir_outcome
    from referral_hub.fhir.api import blp as fhir_blp
    from referral_hub.jobs import periodic
    from referral_hub.jobs import service as outbox
    from referral_hub.jobs.queue import build_queue
    from referral_hub.live import service as live
    from referral_hub.notifications import service as _notifications  # noqa: F401 - consumers
    from referral_hub.notifications import webhooks as _webhooks  # noqa: F401 - consumer
    from referral_hub.notifications.api import blp as webhooks_blp
    from referral_hub.referrals import deadlines_sweep
    from referral_hub.referrals.api import blp as referrals_blp
    from referral_hub.referrals.outside_api import blp as outside_blp
    from referral_hub.reports.api import blp as reports_blp
    from referral_hub.survivor import service as survivor
    from referral_hub.survivor.api import blp as survivor_blp
    from referral_hub.web import context, kept_forms
    from referral_hub.web import pages as web_pages

    app.extensions["hub_queue"] = build_queue(app)
    app.extensions["hub_rate_limits"] = ratelimit.build_backend(app)
    live.init_app(app)
    periodic.register("outbox.sweep", "OUTBOX_SWEEP_SECONDS", outbox.sweep)
    periodic.register("outbox.purge", "IDEMPOTENCY_PURGE_SECONDS", outbox.purge_delivered)
    periodic.register("idempotency.purge", "IDEMPOTENCY_PURGE_SECONDS", idempotency.purge_expired)
    periodic.register("sessions.purge", "IDEMPOTENCY_PURGE_SECONDS", sessions.purge_expired)
    periodic.register("rate_limits.purge", "IDEMPOTENCY_PURGE_SECONDS", ratelimit.purge_expired)
    periodic.register("assertions.purge", "IDEMPOTENCY_PURGE_SECONDS", assertions.purge_expired)
    periodic.register("capacity.remind_stale", "STALE_REMINDER_SECONDS", remind_stale)
    # overflow stops counting at its end by itself; this only stamps the ended windows closed
    periodic.register("overflow.close_ended", "STALE_REMINDER_SECONDS", overflow.close_ended)
    periodic.register("consent.expire", "CONSENT_EXPIRY_SECONDS", consent.expire_consents)
    periodic.register("clients.erase", "ERASURE_SWEEP_SECONDS", consent.erasure_sweep)
    periodic.register(
        "clients.erasure_overdue", "ERASURE_SWEEP_SECONDS", survivor.escalate_overdue_erasures
    )
    periodic.register("referrals.deadlines", "DEADLINE_SWEEP_SECONDS", deadlines_sweep.sweep)
    periodic.register("audit.checkpoint", "AUDIT_CHECKPOINT_SECONDS", checkpoints.make_checkpoint)

    # who is calling, and the checks that follow from it
    app.session_interface = sessions.DatabaseSessionInterface()
    oauth.init_app(app)
    app.extensions["actor_resolver"] = auth.resolve_actor
    app.extensions["request_guards"] = [
        kept_forms.keep_if_signed_out,  # before the CSRF check: keep what she typed
        guards.check_csrf,
        guards.limit_api_calls,
    ]
    app.extensions["problem_hooks"] = [guards.record_denial]

    api.register_blueprint(agencies_blp)
    api.register_blueprint(access_blp)
    api.register_blueprint(directory_blp)
    api.register_blueprint(clients_blp)
    api.register_blueprint(consent_blp)
    api.register_blueprint(referrals_blp)
    api.register_blueprint(outside_blp)
    api.register_blueprint(reports_blp)
    api.register_blueprint(webhooks_blp)
    api.register_blueprint(audit_blp)
    api.register_blueprint(survivor_blp)
    # the revocation cascade: consent (below) signals, referrals (above) act
    consent.consent_ended.connect(_withdraw_referrals, weak=False)
    # FHIR: the same problems, answered as OperationOutcome
    app.extensions.setdefault("problem_renderers", {})["/fhir/"] = fhir_outcome.render
    for blueprint in (oauth_blp, health_blp, fhir_blp):
        app.register_blueprint(blueprint)
    web_pages.register(app)
    csrf.exempt(oauth_blp)
    context.init_app(app)
    app.cli.add_command(cli.hub)

    if app.config["RUN_EMBEDDED_SCHEDULER"]:
        app.extensions["hub_scheduler_stop"] = periodic.start_embedded_scheduler(app)
