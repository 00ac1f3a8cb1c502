"""Administrators: staff and roles, API clients, webhooks, services, the agency itself.

An agency administrator administers their own agency; a hub administrator any agency,
chosen with `?agency=<uuid>` (the picker on every page). Which agency and which record a
person may touch is decided by the services: another agency's looks missing (404).
Secrets (API client, webhook signing) are rendered once, in the answer to the POST that
made them: never flashed, never kept in the session, never in a URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from referral_hub.agencies import service as agencies
from referral_hub.agencies.schemas import UserCreateArgs
from referral_hub.agencies.vocabulary import AgencyStatus, Participation, receives_referrals
from referral_hub.auth import admin as access
from referral_hub.auth import service as auth
from referral_hub.auth import sso
from referral_hub.auth.queries import administered_agency, get_user
from referral_hub.auth.schemas import (
    AgencyUpdateArgs,
    ApiClientCreateArgs,
    SsoUpdateArgs,
    UserUpdateArgs,
)
from referral_hub.auth.scopes import SCOPES
from referral_hub.core import clock
from referral_hub.core.errors import Forbidden, NotFound, ValidationFailed
from referral_hub.directory import service as directory
from referral_hub.directory.queries import owned_service, owned_services
from referral_hub.directory.schemas import ServiceCreateArgs, ServiceUpdateArgs
from referral_hub.directory.vocabulary import (
    ACCESSIBILITY,
    GENDERS,
    POPULATIONS,
    TRAFFICKING_TYPES,
    Category,
    ServiceStatus,
    Unit,
)
from referral_hub.notifications import webhooks
from referral_hub.notifications.api import DeliveryArgs, WebhookArgs
from referral_hub.web import forms, words
from referral_hub.web.pagekit import page_blueprint, staff_only

blp = page_blueprint("admin", __name__, url_prefix="/admin")
ADMINS = ("agency_admin", "hub_admin")
PAGE_SIZE = 50

HUB_ONLY_SCOPES = {"audit:read"}
SERVICE_NULLABLE = ("description", "url", "email", "phone", "service_area", "hours")


# --- which agency ---------------------------------------------------------------------------


def _is_hub_admin() -> bool:
    return bool(g.actor.is_hub_wide)


def _agency_id() -> uuid.UUID:
    """The agency this page is about: `?agency=` (or a form's `agency`), else one's own."""
    raw = request.values.get("agency", "").strip()
    if raw:
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise NotFound() from None
    if g.actor.agency_id is None:
        raise NotFound()
    return uuid.UUID(str(g.actor.agency_id))


def _scope(agency_id: uuid.UUID) -> dict[str, str]:
    """URL arguments that keep a hub admin on the agency they picked."""
    if g.actor.agency_id is not None and agency_id == g.actor.agency_id:
        return {}
    return {"agency": str(agency_id)}


def _frame(agency_id: uuid.UUID) -> dict[str, Any]:
    """What every admin page shows around its content: the agency, the picker, now."""
    agency = administered_agency(g.actor, agency_id)
    picker: list[tuple[str, str]] = []
    if _is_hub_admin():
        items, _ = agencies.list_agencies(g.actor, limit=200, cursor=None)
        picker = [(str(item.id), item.name) for item in items]
    return {
        "agency": agency,
        "scope": _scope(agency.id),
        "picker": picker,
        "is_hub_admin": _is_hub_admin(),
        "now": clock.now(),
    }


def _back(endpoint: str, agency_id: uuid.UUID, **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {**_scope(agency_id), **kwargs}
    return redirect(url_for(endpoint, **arguments))


@contextmanager
def _refusal_beside(field: str) -> Iterator[None]:
    """A rule that refuses one field's value (a role, a scope): say so beside that field."""
    try:
        yield
    except Forbidden as error:
        raise Forbidden(error.detail, errors={field: [error.detail]}) from None


def _grantable_roles() -> list[str]:
    return access.grantable_roles(g.actor)


def _role_options(roles: list[str]) -> list[tuple[str, str]]:
    return [(role, str(words.ROLE[role])) for role in roles]


# --- users ----------------------------------------------------------------------------------


def _users_context(agency_id: uuid.UUID) -> dict[str, Any]:
    frame = _frame(agency_id)
    cursor = request.args.get("cursor") or None
    people, next_cursor = access.list_users(
        g.actor, frame["agency"].id, limit=PAGE_SIZE, cursor=cursor
    )
    return frame | {
        "people": people,
        "next_cursor": next_cursor,
        "role_options": _role_options(_grantable_roles()),
        "role_short": words.ROLE_SHORT,
    }


@blp.get("/users")
@staff_only(*ADMINS)
def users() -> Any:
    return render_template("admin/users.html", **_users_context(_agency_id()))


@blp.post("/users")
@staff_only(*ADMINS)
def create_user() -> Any:
    agency_id = _agency_id()
    context = _users_context(agency_id)
    with forms.rejecting("admin/users.html", values=request.form, **context):
        data = forms.load(UserCreateArgs(), request.form)
        with _refusal_beside("roles"):
            person = agencies.create_user(g.actor, agency_id=agency_id, **data)
    flash(f"Account created for {person.display_name}. They get an e-mail saying so.")
    return _back("admin.users", agency_id)


def _user_context(user_id: uuid.UUID) -> dict[str, Any]:
    person = get_user(g.actor, user_id)
    grantable = _grantable_roles()
    return _frame(person.agency_id) | {
        "person": person,
        "role_options": _role_options(grantable),
        # roles this admin may not change are kept as they are (hidden fields)
        "kept_roles": [r for r in person.roles if r not in grantable],
        "role_words": words.ROLE,
        "is_self": str(person.id) == g.actor.id,
        "may_manage": access.may_manage(g.actor, person),
    }


def _user_values(person: Any) -> MultiDict[str, str]:
    values: MultiDict[str, str] = MultiDict({"display_name": person.display_name})
    for role in person.roles:
        values.add("roles", role)
    return values


@blp.get("/users/<uuid:user_id>")
@staff_only(*ADMINS)
def user(user_id: uuid.UUID) -> Any:
    context = _user_context(user_id)
    return render_template("admin/user.html", values=_user_values(context["person"]), **context)


@blp.post("/users/<uuid:user_id>")
@staff_only(*ADMINS)
def update_user(user_id: uuid.UUID) -> Any:
    context = _user_context(user_id)
    with forms.rejecting("admin/user.html", values=request.form, **context):
        data = forms.load(UserUpdateArgs(only=("display_name", "roles")), request.form)
        with _refusal_beside("roles"):
            person = access.update_user(g.actor, user_id, **data)
    flash(f"Saved the changes to {person.display_name}'s account.")
    return _back("admin.user", person.agency_id, user_id=person.id)


@blp.post("/users/<uuid:user_id>/active")
@staff_only(*ADMINS)
def set_active(user_id: uuid.UUID) -> Any:
    context = _user_context(user_id)
    values = _user_values(context["person"])
    with forms.rejecting("admin/user.html", values=values, **context):
        data = forms.load(UserUpdateArgs(only=("is_active",)), request.form)
        person = access.update_user(g.actor, user_id, **data)
    if person.is_active:
        flash(f"{person.display_name} can sign in again.")
    else:
        flash(f"{person.display_name} is disabled and was signed out everywhere.")
    return _back("admin.user", person.agency_id, user_id=person.id)


@blp.post("/users/<uuid:user_id>/reset-second-factor")
@staff_only(*ADMINS)
def reset_totp(user_id: uuid.UUID) -> Any:
    person = access.reset_totp(g.actor, user_id)
    flash(f"{person.display_name} will set up a new authenticator app at their next sign-in.")
    return _back("admin.user", person.agency_id, user_id=person.id)


@blp.post("/users/<uuid:user_id>/password")
@staff_only(*ADMINS)
def set_password(user_id: uuid.UUID) -> Any:
    context = _user_context(user_id)
    values = _user_values(context["person"])
    with forms.rejecting("admin/user.html", values=values, **context):
        person = access.set_password(g.actor, user_id, request.form.get("password", "")[:1024])
    flash(f"New password set for {person.display_name}; give it to them in person.")
    return _back("admin.user", person.agency_id, user_id=person.id)


# --- API clients ----------------------------------------------------------------------------


def _clients_context(agency_id: uuid.UUID) -> dict[str, Any]:
    frame = _frame(agency_id)
    scopes = [s for s in SCOPES if _is_hub_admin() or s not in HUB_ONLY_SCOPES]
    return frame | {
        "clients": auth.list_api_clients(g.actor, frame["agency"].id),
        "scope_options": [(s, f"{s}: {words.SCOPE.get(s, s)}") for s in scopes],
        "scope_words": words.SCOPE,
    }


@blp.get("/api-clients")
@staff_only(*ADMINS)
def api_clients() -> Any:
    return render_template("admin/api_clients.html", **_clients_context(_agency_id()))


@blp.post("/api-clients")
@staff_only(*ADMINS)
def create_api_client() -> Any:
    agency_id = _agency_id()
    context = _clients_context(agency_id)
    with forms.rejecting("admin/api_clients.html", values=request.form, **context):
        data = forms.load(ApiClientCreateArgs(), request.form)
        with _refusal_beside("scopes"):
            client, secret = auth.create_api_client(g.actor, agency_id=agency_id, **data)
    # the secret is in this answer only: a fresh list, and the secret beside it, once
    context = _clients_context(agency_id)
    return render_template(
        "admin/api_clients.html", created=client, created_secret=secret, **context
    )


@blp.post("/api-clients/<uuid:client_pk>/keys")
@staff_only(*ADMINS)
def set_api_client_keys(client_pk: uuid.UUID) -> Any:
    """Paste a system's public keys (a JWK Set) so it may sign its token requests."""
    agency_id = _agency_id()
    context = _clients_context(agency_id) | {"keys_for": client_pk}
    with forms.rejecting("admin/api_clients.html", values=request.form, **context):
        client = auth.set_api_client_keys(
            g.actor, agency_id, client_pk, request.form.get("jwks", "")[:100_000]
        )
    if client.public_jwks:
        flash(f"“{client.name}” may now sign its token requests with the keys given.")
    else:
        flash(f"“{client.name}” has no public keys now: only its secret works.")
    return _back("admin.api_clients", agency_id)


@blp.post("/api-clients/<uuid:client_pk>/revoke")
@staff_only(*ADMINS)
def revoke_api_client(client_pk: uuid.UUID) -> Any:
    agency_id = _agency_id()
    client = auth.revoke_api_client(g.actor, agency_id, client_pk)
    flash(f"“{client.name}” is revoked: its tokens stopped working.")
    return _back("admin.api_clients", agency_id)


# --- webhooks -------------------------------------------------------------------------------


def _may_manage_webhooks() -> bool:
    """Webhooks belong to the administrator's own agency (the service's rule)."""
    return bool(g.actor.has_role("agency_admin"))


def _webhooks_context() -> dict[str, Any]:
    frame = _frame(_own_agency())
    hooks = webhooks.list_webhooks(g.actor) if _may_manage_webhooks() else []
    return frame | {
        "picker": [],  # webhooks are the administrator's own agency's
        "hooks": sorted(hooks, key=lambda h: h.created_at, reverse=True),
        "event_options": [
            (e, e.removeprefix("referral.").replace("_", " ")) for e in webhooks.EVENTS
        ],
        "may_manage": _may_manage_webhooks(),
    }


def _own_agency() -> uuid.UUID:
    if g.actor.agency_id is None:
        raise NotFound()
    return uuid.UUID(str(g.actor.agency_id))


@blp.get("/webhooks", endpoint="webhooks")
@staff_only(*ADMINS)
def webhooks_page() -> Any:
    return render_template("admin/webhooks.html", **_webhooks_context())


@blp.post("/webhooks")
@staff_only("agency_admin")
def subscribe_webhook() -> Any:
    context = _webhooks_context()
    with forms.rejecting("admin/webhooks.html", values=request.form, **context):
        data = forms.load(WebhookArgs(), request.form)
        hook, secret = webhooks.subscribe(g.actor, **data)
    context = _webhooks_context()
    return render_template("admin/webhooks.html", created=hook, created_secret=secret, **context)


@blp.post("/webhooks/<uuid:webhook_id>/disable")
@staff_only("agency_admin")
def disable_webhook(webhook_id: uuid.UUID) -> Any:
    hook = webhooks.disable(g.actor, webhook_id)
    flash(f"The webhook to {hook.url} is turned off.")
    return redirect(url_for("admin.webhooks"))


def error_words(text: str | None) -> str:
    """A delivery's last error as a sentence an administrator can act on."""
    if not text:
        return ""
    if text.startswith("receiver answered "):
        code = text.removeprefix("receiver answered ")
        return f"Your system answered with an error (HTTP status {code})."
    if text.startswith("could not reach the receiver"):
        return "Could not reach your system (address wrong, down, or refusing connections)."
    return text


@blp.get("/webhooks/<uuid:webhook_id>")
@staff_only("agency_admin")
def webhook(webhook_id: uuid.UUID) -> Any:
    wanted = request.args.get("status", "")
    known = wanted in words.DELIVERY_STATUS
    status = DeliveryArgs().load({"status": wanted})["status"] if known else None
    rows = webhooks.deliveries(g.actor, webhook_id, status)
    context = _webhooks_context()
    hook = next((h for h in context["hooks"] if h.id == webhook_id), None)
    if hook is None:
        raise NotFound()
    shown = list(reversed(rows))[:PAGE_SIZE]
    return render_template(
        "admin/webhook.html",
        hook=hook,
        rows=shown,
        total=len(rows),
        status=status or "",
        status_words=words.DELIVERY_STATUS,
        error_words=error_words,
        **context,
    )


# --- services -------------------------------------------------------------------------------


def _service_options() -> dict[str, Any]:
    codes = {
        "genders": (GENDERS, words.GENDER),
        "populations": (POPULATIONS, words.POPULATION),
        "trafficking_types": (TRAFFICKING_TYPES, words.TRAFFICKING),
        "accessibility": (ACCESSIBILITY, words.ACCESSIBILITY),
    }
    return {
        "categories": [(c.value, words.CATEGORY[c.value]) for c in Category],
        "statuses": [(s.value, words.SERVICE_STATUS[s.value]) for s in ServiceStatus],
        "units": [(u.value, words.UNIT[u.value]) for u in Unit],
        "choice": {k: [(v, said[v]) for v in vs] for k, (vs, said) in codes.items()},
    }


def _service_form(form: MultiDict[str, str]) -> MultiDict[str, str]:
    """The posted form as the schema reads it: languages typed as a list, cleared fields."""
    shaped = MultiDict(form)
    typed = shaped.poplist("eligibility.languages_text")
    if typed:
        shaped.setlist(
            "eligibility.languages",
            [part.strip() for part in typed[-1].replace(";", ",").split(",") if part.strip()],
        )
        shaped["eligibility.languages.present"] = "1"
    return shaped


def _cleared(form: MultiDict[str, str]) -> dict[str, None]:
    """Optional fields posted empty: clear them (a blank would otherwise be left out)."""
    return {name: None for name in SERVICE_NULLABLE if name in form and not form[name].strip()}


@blp.get("/services")
@staff_only(*ADMINS)
def services() -> Any:
    frame = _frame(_agency_id())
    items = owned_services(g.actor, frame["agency"].id)
    return render_template("admin/services.html", items=items, **frame)


@blp.route("/services/new", methods=["GET", "POST"])
@staff_only(*ADMINS)
def new_service() -> Any:
    agency_id = _agency_id()
    context = _frame(agency_id) | _service_options() | {"service": None, "owner": True}
    if request.method == "GET":
        values = MultiDict({"status": "active", "location.confidential": ""})
        return render_template("admin/service_form.html", values=values, **context)
    with forms.rejecting("admin/service_form.html", values=request.form, **context):
        data = forms.load(
            ServiceCreateArgs(),
            _service_form(request.form),
            agency_id=str(agency_id),
        )
        created = directory.create_service(g.actor, **data)
    flash(f"“{created.name}” is in the directory.")
    return _back("admin.services", agency_id)


def _service_values(described: dict[str, Any]) -> MultiDict[str, str]:
    """A service as the edit form's fields (dotted names, lists as repeated keys)."""
    values: MultiDict[str, str] = MultiDict()
    for name in ("name", "description", "category", "status", "url", "email", "phone"):
        values[name] = described.get(name) or ""
    values["service_area"] = described.get("service_area") or ""
    values["hours"] = described.get("hours") or ""
    if described.get("capacity"):
        values["unit"] = described["capacity"]["unit"]
    eligibility = described["eligibility"]
    for key in ("min_age", "max_age", "notes"):
        value = eligibility.get(key)
        values[f"eligibility.{key}"] = "" if value is None else str(value)
    for key in ("genders", "populations", "trafficking_types", "accessibility"):
        for item in eligibility.get(key) or []:
            values.add(f"eligibility.{key}", item)
    values["eligibility.languages_text"] = ", ".join(eligibility.get("languages") or [])
    for key in ("no_police_report_needed", "no_id_needed", "accepts_children"):
        values[f"eligibility.{key}"] = "on" if eligibility.get(key) else ""
    location = described["location"]
    for key in ("name", "city", "region", "country", "latitude", "longitude"):
        value = location.get(key)
        values[f"location.{key}"] = "" if value is None else str(value)
    for key in ("street", "postal_code"):
        values[f"location.address.{key}"] = (location.get("address") or {}).get(key) or ""
    values["location.confidential"] = "on" if location.get("confidential") else ""
    return values


@blp.route("/services/<uuid:service_id>", methods=["GET", "POST"])
@staff_only(*ADMINS)
def service(service_id: uuid.UUID) -> Any:
    item = owned_service(g.actor, service_id)
    described = directory.describe(item, g.actor)
    # the address is the owning agency's: a hub admin from elsewhere does not see or edit it
    is_owner = g.actor.agency_id == item.agency_id
    context = _frame(item.agency_id) | _service_options() | {"service": item, "owner": is_owner}
    if request.method == "GET":
        values = _service_values(described)
        return render_template("admin/service_form.html", values=values, **context)
    form = _service_form(request.form)
    if not is_owner:
        for key in [k for k in form if k.startswith("location.")]:
            form.poplist(key)
    with forms.rejecting("admin/service_form.html", values=request.form, **context):
        data = forms.load(ServiceUpdateArgs(), form, **_cleared(form))
        updated = directory.update_service(g.actor, service_id, **data)
    flash(f"Saved “{updated.name}”.")
    return _back("admin.services", updated.agency_id)


# --- the agency -----------------------------------------------------------------------------


def _agency_values(agency: Any) -> MultiDict[str, str]:
    return MultiDict(
        {
            "name": agency.name,
            "city": agency.city or "",
            "region": agency.region or "",
            "is_victim_service_provider": "on" if agency.is_victim_service_provider else "",
        }
    )


@blp.get("/agency")
@staff_only(*ADMINS)
def agency() -> Any:
    frame = _frame(_agency_id())
    return render_template("admin/agency.html", values=_agency_values(frame["agency"]), **frame)


@blp.post("/agency")
@staff_only(*ADMINS)
def update_agency() -> Any:
    agency_id = _agency_id()
    context = _frame(agency_id)
    with forms.rejecting("admin/agency.html", values=request.form, **context):
        data = forms.load(
            AgencyUpdateArgs(only=("name", "city", "region", "is_victim_service_provider")),
            request.form,
        )
        for name in ("city", "region"):
            if name in request.form and not request.form[name].strip():
                data[name] = None
        updated = access.update_agency(g.actor, agency_id, **data)
    flash(f"Saved the details of {updated.name}.")
    return _back("admin.agency", agency_id)


@blp.post("/agency/status")
@staff_only("hub_admin")
def agency_status() -> Any:
    agency_id = _agency_id()
    context = _frame(agency_id)
    values = _agency_values(context["agency"])
    with forms.rejecting("admin/agency.html", values=values, **context):
        data = forms.load(AgencyUpdateArgs(only=("status",)), request.form)
        if "status" not in data:
            raise ValidationFailed(errors={"status": ["Choose suspend or reactivate."]})
        updated = access.set_agency_status(g.actor, agency_id, AgencyStatus(data["status"]))
    if updated.status == AgencyStatus.SUSPENDED:
        flash(f"{updated.name} is suspended: its staff and systems were signed out.")
    else:
        flash(f"{updated.name} is active again.")
    return _back("admin.agency", agency_id)


@blp.post("/agency/participation")
@staff_only(*ADMINS)
def agency_participation() -> Any:
    """Receive referrals, or publish counts only (the agency's administrators or the hub's)."""
    agency_id = _agency_id()
    context = _frame(agency_id)
    values = _agency_values(context["agency"])
    with forms.rejecting("admin/agency.html", values=values, **context):
        data = forms.load(AgencyUpdateArgs(only=("participation",)), request.form)
        if "participation" not in data:
            raise ValidationFailed(
                errors={"participation": ["Choose whether it receives referrals."]}
            )
        updated = agencies.set_participation(
            g.actor, agency_id, Participation(data["participation"])
        )
    if receives_referrals(updated.participation):
        flash(f"{updated.name} receives referrals through the hub.")
    else:
        flash(f"{updated.name} publishes counts only: workers are told to call, not to refer.")
    return _back("admin.agency", agency_id)


# --- single sign-on -------------------------------------------------------------------------


def _sso_values(described: dict[str, Any]) -> MultiDict[str, str]:
    return MultiDict(
        {
            "issuer": described["issuer"] or "",
            "client_id": described["client_id"] or "",
            "email_domains": ", ".join(described["email_domains"]),
            "enabled": "on" if described["enabled"] else "",
        }
    )


def _sso_context(agency_id: uuid.UUID) -> dict[str, Any]:
    described = sso.get_sso(g.actor, agency_id)
    return {
        **_frame(agency_id),
        "sso": described,
        "redirect_uri": url_for("signin.sso_callback", _external=True),
    }


@blp.get("/sso")
@staff_only(*ADMINS)
def sso_page() -> Any:
    context = _sso_context(_agency_id())
    return render_template("admin/sso.html", values=_sso_values(context["sso"]), **context)


@blp.post("/sso")
@staff_only(*ADMINS)
def update_sso() -> Any:
    """Save the agency's provider; the secret field left blank keeps the saved secret."""
    agency_id = _agency_id()
    context = _sso_context(agency_id)
    form = MultiDict(request.form)
    form.pop("client_secret", None)  # never echoed back into the page
    with forms.rejecting("admin/sso.html", values=form, **context):
        posted = MultiDict(request.form)
        posted.setlist(
            "email_domains",
            [d for d in posted.get("email_domains", "").replace(",", " ").split() if d],
        )
        data = forms.load(SsoUpdateArgs(), posted)
        sso.set_sso(g.actor, agency_id, **data)
    flash("Saved the single sign-on settings.")
    return _back("admin.sso_page", agency_id)
