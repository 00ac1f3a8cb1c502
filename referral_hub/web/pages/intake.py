"""Intake workers: dashboard, service search and the plan, new client, client, consent.

The journey: the dashboard (bundles this agency sent) → search, picking up to three
services per need into the plan (kept in the session, no survivor data) → the new client's
record → her consent, naming the agencies of the plan → the bundle (the `bundles` pages).
Every page reads and writes through the services the API uses; tenant checks live there.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from marshmallow import ValidationError, fields
from werkzeug.datastructures import MultiDict

from referral_hub.agencies import outside
from referral_hub.agencies import service as agencies
from referral_hub.agencies.vocabulary import is_law_enforcement
from referral_hub.clients import service as clients
from referral_hub.clients.schemas import ClientCreateArgs
from referral_hub.consent import service as consent
from referral_hub.consent.policy import CATEGORIES
from referral_hub.consent.schemas import ConsentCreateArgs, RevokeArgs
from referral_hub.core import clock
from referral_hub.core.errors import NotFound, ValidationFailed
from referral_hub.core.schemas import HubSchema
from referral_hub.directory import near_misses, places
from referral_hub.directory import search as finder
from referral_hub.directory import service as directory
from referral_hub.directory.queries import ServiceSummary, summaries
from referral_hub.directory.schemas import SearchArgs
from referral_hub.directory.vocabulary import ACCESSIBILITY, GENDERS, POPULATIONS, Category
from referral_hub.referrals.queries import dashboard as sent_dashboard
from referral_hub.referrals.schemas import MineArgs
from referral_hub.referrals.service import refuse_counts_only
from referral_hub.reports import queries as reports
from referral_hub.survivor.queries import pending_erasures
from referral_hub.web import consent_texts, forms, i18n, plan
from referral_hub.web import words as vocab
from referral_hub.web.pagekit import is_htmx, page_blueprint, staff_only

blp = page_blueprint("intake", __name__, url_prefix="/intake")

# --- words for people ------------------------------------------------------------------------

# the PII fields of the new-client form, grouped by the category they are sealed in
PII_GROUPS = [
    ("identity", [("name", "text"), ("dob", "date")]),
    ("contact", [("contact", "textarea")]),
    ("narrative", [("narrative", "textarea")]),
    ("immigration", [("immigration", "textarea")]),
    ("health", [("health", "textarea")]),
    ("justice", [("justice", "textarea")]),
]


def pii_groups() -> list[tuple[str, list[tuple[str, Any, str]]]]:
    """The new-client form's PII fields (`pii.<name>`, label, input kind) by category."""
    return [
        (category, [(f"pii.{name}", vocab.PII_FIELD[name], kind) for name, kind in fields])
        for category, fields in PII_GROUPS
    ]


def data_categories() -> list[tuple[str, Any, Any]]:
    """(category, its words, what it is for) of every data category, in the policy's order."""
    return [(c, vocab.DATA_CATEGORY[c], vocab.DATA_CATEGORY_HINT[c]) for c in CATEGORIES]


def words(value: Any) -> str:
    text = str(getattr(value, "value", value) or "")
    return str(
        vocab.CATEGORY.get(text)
        or vocab.POPULATION.get(text)
        or vocab.NEED_STATUS.get(text)
        or text.replace("_", " ").capitalize()
    )


# each language's own name too, as she or an interpreter may type it
OWN_NAMES = {
    "español": "es",
    "tiếng việt": "vi",
    "tieng viet": "vi",
    "中文": "zh",
    "kreyòl ayisyen": "ht",
    "kreyol": "ht",
    "українська": "uk",
    "العربية": "ar",
    "русский": "ru",
    "français": "fr",
    "francais": "fr",
    "português": "pt",
    "portugues": "pt",
}


def language_tag(typed: str) -> str:
    """What a worker typed for a language — "Spanish", "español", "es" — as the BCP 47 tag
    the hub stores; anything unknown is left as typed, for the schema to judge."""
    text = typed.strip()
    wanted = text.lower()
    with i18n.speaking(i18n.SOURCE):  # the English names, whatever the page's language
        english = {str(name).lower(): code for code, name in vocab.LANGUAGE.items()}
    for code, name in vocab.LANGUAGE.items():
        if wanted == str(name).lower():
            return code
    if wanted in english:
        return english[wanted]
    return OWN_NAMES.get(wanted, text)


def with_language_tags(form: MultiDict[str, str], *names: str) -> MultiDict[str, str]:
    """The posted form with its language fields read as tags (the page shows what was typed)."""
    read = MultiDict(form)
    for name in names:
        if name in read:
            read.setlist(name, [language_tag(value) for value in read.getlist(name)])
    return read


def language_words(tag: str) -> str:
    name = vocab.LANGUAGE.get(tag.split("-", 1)[0].lower())
    return f"{name} ({tag})" if name else tag


@blp.app_template_filter("intake_words")
def _intake_words(value: Any) -> str:
    return words(value)


@blp.app_template_filter("profile_facts")
def profile_facts(profile: dict[str, Any]) -> list[tuple[str, str]]:
    """Her needs profile as a worker reads it: "Age: 25 to 39", "Language: Spanish (es)" —
    never the stored codes (every page that shows a profile uses this)."""
    vocabulary: dict[str, vocab.Words] = {
        "age_range": vocab.AGE_RANGE,
        "gender": vocab.GENDER,
        "household": vocab.HOUSEHOLD,
        "urgency": vocab.URGENCY,
    }
    facts = []
    for key, value in profile.items():
        label = str(vocab.PROFILE_FACT.get(key, str(key).replace("_", " ").capitalize()))
        if key == "language" and isinstance(value, str):
            shown = language_words(value)
        elif isinstance(value, dict):  # each need's urgency
            known = vocabulary["urgency"]
            shown = "; ".join(
                f"{words(need)}: {known.get(str(level), str(level))}"
                for need, level in value.items()
            )
        elif isinstance(value, list):
            shown = ", ".join(str(v).replace("_", " ") for v in value) or "none"
        else:
            known = vocabulary.get(key, {})
            shown = str(known.get(str(value), str(value).replace("_", " ").capitalize()))
        facts.append((label, shown))
    return facts


# marshmallow's words → a worker's words (the API keeps its own)
PLAIN_ERRORS = {
    "Shorter than minimum length 1.": "Choose at least one.",
    "Length must be between 1 and 50.": "Choose at least one agency (at most 50).",
    "Missing data for required field.": "Required.",
    "Not a valid datetime.": "Give a date and time.",
    "Not a valid date.": "Give a date (day, month and year).",
    "Not a valid integer.": "Give a whole number.",
    "Not a valid number.": "Give a number.",
    "Not a valid UUID.": "Choose from the list.",
    "Must be greater than or equal to 0 and less than or equal to 120.": (
        "Give an age from 0 to 120."
    ),
    "Not a BCP 47 language tag.": "Not a language we know: type its name (Spanish) or code (es).",
}


def plain_errors(errors: forms.FormErrors | None) -> str:
    """Reword the schema's messages for people, and show a list item's error (`language.0`)
    beside its list's field; called at the top of a template, renders nothing."""
    if not errors:
        return ""
    for key in list(errors):
        errors[key] = [
            PLAIN_ERRORS.get(message, message).replace("Must be one of:", "Choose one of:")
            for message in errors[key]
        ]
        base, _, index = key.rpartition(".")
        if base and index.isdigit():
            errors.setdefault(base, list(errors[key]))
    return ""


def spell_date(text: consent_texts.ConsentText, value: str | None) -> str:
    """The form's `YYYY-MM-DD` in the consent's language; anything else as typed."""
    try:
        return text.spell_date(date.fromisoformat((value or "")[:10]))
    except ValueError:
        return value or ""


@blp.context_processor
def _links() -> dict[str, Any]:
    return {
        "spell_date": spell_date,
        "plain_errors": plain_errors,
        "bundle_new_url": bundle_new_url,
        "bundle_url": bundle_url,
        "words": words,
        "language_words": language_words,
        "freshness_words": vocab.FRESHNESS,
        "now": clock.now(),
    }


def bundle_new_url(client_id: Any, consent_id: Any | None = None) -> str:
    """The bundle page (someone else's blueprint): url_for once it is registered."""
    args: dict[str, Any] = {"client": str(client_id)}
    if consent_id:
        args["consent"] = str(consent_id)
    if "bundles.new" in current_app.view_functions:
        return url_for("bundles.new", **args)
    return "/intake/bundles/new?" + urlencode(args)


def bundle_url(bundle_id: Any) -> str:
    if "bundles.detail" in current_app.view_functions:
        return url_for("bundles.detail", bundle_id=bundle_id)
    return f"/intake/bundles/{bundle_id}"


# --- the plan --------------------------------------------------------------------------------


def plan_view(known: dict[uuid.UUID, ServiceSummary] | None = None) -> list[dict[str, Any]]:
    """The plan by need, each pick with its name and agency (one query for all, none when
    the caller already read them in `known`)."""
    picked = plan.needs()
    if known is None:
        known = summaries(plan.service_ids())
    view = []
    for category, ids in picked.items():
        services = [known[uuid.UUID(sid)] for sid in ids if uuid.UUID(sid) in known]
        if services:
            view.append({"category": category, "services": services})
    return view


class PlanArgs(HubSchema):
    service_id = fields.UUID(required=True)
    back = fields.String(load_default="")


def _back_to_search(back: str) -> str:
    """Back to the search the worker came from (our own path; only its query is kept)."""
    query = back.lstrip("?").replace("\r", "").replace("\n", "")
    return url_for("intake.search") + (f"?{query}" if query else "")


def _plan_answer(back: str, problem: str | None = None) -> Any:
    if is_htmx():
        page = render_template(
            "intake/_plan.html", plan_needs=plan_view(), back=back, plan_problem=problem
        )
        return page, (422 if problem else 200)
    if problem:
        flash(problem, "error")
    return redirect(_back_to_search(back))


@blp.post("/plan")
@staff_only("intake")
def plan_add() -> Any:
    try:
        args = PlanArgs().load({k: request.form.get(k, "") for k in ("service_id", "back")})
    except ValidationError:
        return _plan_answer(request.form.get("back", ""), "Choose a service from the results.")
    service = directory.get_service(g.actor, args["service_id"])  # a missing one: 404
    try:
        refuse_counts_only(service.agency)  # the send would refuse it: the plan does too
    except ValidationFailed as refused:
        call = f" {service.phone}" if service.phone else ""
        return _plan_answer(args["back"], (refused.errors or {})["service_id"][0] + call)
    category = service.category.value
    plan.remember_search(args["back"])
    if not plan.add(category, str(service.id)):
        return _plan_answer(
            args["back"],
            f"{words(category)} already has {plan.PER_NEED} services in the plan: "
            "remove one before adding another.",
        )
    if not is_htmx():
        flash(f"Added {service.name} to the plan.")
    return _plan_answer(args["back"])


@blp.post("/plan/remove")
@staff_only("intake")
def plan_remove() -> Any:
    try:
        args = PlanArgs().load({k: request.form.get(k, "") for k in ("service_id", "back")})
    except ValidationError:
        return _plan_answer(request.form.get("back", ""), "Choose a service of the plan.")
    plan.remove(str(args["service_id"]))
    if not is_htmx():
        flash("Removed from the plan.")
    return _plan_answer(args["back"])


# --- dashboard -------------------------------------------------------------------------------


@blp.get("/")
@staff_only("intake")
def dashboard() -> Any:
    now = clock.now()
    refused: dict[str, Any] = {"bundles": [], "now": now, "plan_needs": [], "erasures": []}
    with forms.rejecting("intake/dashboard.html", **refused):
        whose = forms.load(MineArgs(), request.args)["assignee"]
    items = sent_dashboard.sent_bundles(g.actor, limit=50, now=now, assignee=whose)
    if is_htmx():
        return render_template("intake/_bundles.html", bundles=items, now=now, whose=whose)
    return render_template(
        "intake/dashboard.html",
        bundles=items,
        now=now,
        whose=whose,
        plan_needs=plan_view(),
        erasures=pending_erasures(g.actor),
    )


# --- search ----------------------------------------------------------------------------------


def _search_context() -> dict[str, Any]:
    return {
        "town_options": [(town.name, town.name) for town in places.towns()],
        "category_options": [(c.value, words(c.value)) for c in Category],
        "gender_options": [(g_, vocab.GENDER[g_]) for g_ in GENDERS],
        "population_options": [(p, vocab.POPULATION[p]) for p in POPULATIONS],
        "plan_needs": [],
        "back": request.query_string.decode(),
        "results": [],
        "near_misses": [],
    }


def _near(args: MultiDict[str, str]) -> dict[str, Any]:
    """The page's "near" fields (a town, or latitude and longitude) → search's `near`."""
    place = args.get("place", "").strip()
    lat, lon = args.get("lat", "").strip(), args.get("lon", "").strip()
    errors: dict[str, list[str]] = {}
    near = None
    if lat or lon:
        try:
            lat_f, lon_f = float(lat), float(lon)
        except ValueError:
            errors["lat"] = ["Give both latitude and longitude as numbers, e.g. 41.88 and -87.63."]
        else:
            if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
                errors["lat"] = ["Latitude is between -90 and 90, longitude between -180 and 180."]
            else:
                near = f"{lat_f},{lon_f}"
    elif place:
        town = places.town(place)
        if town is None:
            errors["place"] = ["Choose a town from the list."]
        else:
            near = town.near
    if args.get("radius_km", "").strip() and near is None and not errors:
        errors["radius_km"] = ["Choose a town or give coordinates to search within a distance."]
    if errors:
        raise ValidationError(errors)
    return {"near": near} if near else {}


@blp.get("/search")
@staff_only("intake")
def search() -> Any:
    context = _search_context()
    try:
        args = forms.load(
            SearchArgs(), with_language_tags(request.args, "language"), **_near(request.args)
        )
    except ValidationError:
        context["plan_needs"] = plan_view()
        with forms.rejecting("intake/search.html", values=request.args, **context):
            raise  # the same page, errors beside the fields, status 422
    query = finder.to_query(args, args["limit"])
    items = finder.search(g.actor, query)
    close = near_misses.for_search(g.actor, query, items)
    # one read for the results' eligibility and the plan's names
    known = summaries([item["service"]["id"] for item in items] + plan.service_ids())
    context["plan_needs"] = plan_view(known)
    context["results"] = [item | {"highlights": highlights(item, args, known)} for item in items]
    context["near_misses"] = [
        item | {"missed": [miss_words(miss) for miss in item["misses"]]} for item in close
    ]
    return render_template("intake/search.html", values=request.args, **context)


def highlights(
    item: dict[str, Any], args: dict[str, Any], known: dict[uuid.UUID, ServiceSummary]
) -> dict[str, list[str]]:
    """What fits what the worker asked for, and what may not fit her."""
    fits: list[str] = []
    misses: list[str] = []
    summary = known.get(item["service"]["id"])
    rules = summary.eligibility if summary else None
    capacity = item["capacity"] or {}
    unit = capacity.get("unit") or "place"
    if capacity.get("available"):
        fits.append(
            f"{capacity['available']} {unit}{'s' if capacity['available'] != 1 else ''} free"
        )
    else:
        misses.append(f"No {unit} free right now")
    low, high = (rules.min_age, rules.max_age) if rules else (None, None)
    ages = (
        f"ages {low} to {high}"
        if low is not None and high is not None
        else f"ages {low}+"
        if low is not None
        else f"up to age {high}"
        if high is not None
        else "any age"
    )
    if args.get("age") is not None:
        fits.append(f"Takes age {args['age']} ({ages})")
    elif low is not None or high is not None:
        misses.append(f"Only {ages}")
    genders = rules.genders if rules else ()
    if args.get("gender"):
        fits.append(
            f"Serves {vocab.GENDER[args['gender']].lower()}" + ("" if genders else " (all genders)")
        )
    elif genders:
        misses.append("Only " + ", ".join(vocab.GENDER[g_].lower() for g_ in genders))
    for population in args.get("population") or []:
        fits.append(f"Serves {vocab.POPULATION[population].lower()}")
    spoken = (rules.languages if rules else ()) or item["service"].get("languages") or []
    wanted = {tag.split("-", 1)[0].lower() for tag in args.get("language") or []}
    if wanted:
        fits.append(
            "Works in "
            + ", ".join(
                language_words(tag) for tag in spoken if tag.split("-", 1)[0].lower() in wanted
            )
        )
    elif spoken:
        fits.append("Languages: " + ", ".join(language_words(tag) for tag in spoken))
    if rules and rules.no_police_report_needed:
        fits.append("No police report needed")
    elif rules:
        misses.append("May ask for a police report")
    if rules and rules.no_id_needed:
        fits.append("No ID needed")
    elif rules:
        misses.append("May ask for ID")
    if rules and rules.accepts_children:
        fits.append("Accepts children")
    elif "with_children" in (args.get("population") or []):
        misses.append("Does not say it accepts children")
    return {"fits": fits, "misses": misses}


def _listed(values: list[str], names: dict[str, Any]) -> str:
    return ", ".join(str(names.get(value, value.replace("_", " "))) for value in values)


def _language_names(tags: list[str]) -> str:
    return ", ".join(str(vocab.LANGUAGE.get(tag.split("-", 1)[0].lower(), tag)) for tag in tags)


def miss_words(miss: dict[str, Any]) -> str:
    """What a near miss fails, as a worker says it ("children not listed", "12 km outside
    your radius"), from the catalogue; the codes stay in the API."""
    _ = i18n.gettext
    reason = miss["reason"]
    if reason == "no_free_places":
        if miss.get("held"):
            return i18n.ngettext(
                "no free places now (%(num)d held for someone on the way)",
                "no free places now (%(num)d held for people on the way)",
                miss["held"],
            )
        return _("no free places now")
    if reason == "age_range":
        low, high = miss.get("min_age"), miss.get("max_age")
        if low is not None and high is not None:
            return _("ages %(low)s to %(high)s only", low=low, high=high)
        if low is not None:
            return _("ages %(low)s and over only", low=low)
        return _("up to age %(high)s only", high=high)
    if reason == "genders_only":
        genders = {key: label.lower() for key, label in vocab.GENDER.items()}
        return _("serves only: %(genders)s", genders=_listed(miss["values"], genders))
    if reason == "populations_not_listed":
        groups = {key: label.lower() for key, label in vocab.POPULATION.items()}
        return _("does not list %(groups)s", groups=_listed(miss["values"], groups))
    if reason == "languages_not_listed":
        wanted = _language_names(miss["values"])
        if miss.get("offered"):
            return _(
                "does not list %(wanted)s (works in %(offered)s)",
                wanted=wanted,
                offered=_language_names(miss["offered"]),
            )
        return _("does not list %(wanted)s", wanted=wanted)
    if reason == "trafficking_types_not_listed":
        return _("does not list %(types)s", types=_listed(miss["values"], vocab.TRAFFICKING))
    if reason == "accessibility_not_listed":
        return _(
            "does not list %(features)s", features=_listed(miss["values"], vocab.ACCESSIBILITY)
        )
    if reason == "outside_radius":
        return _("%(km)s km outside your radius", km=miss["km_outside"])
    plain = {
        "capacity_unknown": _("free places never published"),
        "may_ask_for_id": _("may ask for ID"),
        "may_ask_for_police_report": _("may ask for a police report"),
        "children_not_listed": _("children not listed"),
    }
    return plain[reason]


# --- new client ------------------------------------------------------------------------------


def _agency_options() -> list[tuple[str, str, str]]:
    """(id, name, kind) of every agency (the directory is open to every signed-in actor)."""
    items, _ = agencies.list_agencies(g.actor, limit=200, cursor=None)
    return [(str(a.id), a.name, a.kind.value) for a in items]


def _client_form_context() -> dict[str, Any]:
    return {
        "agency_options": [(aid, name) for aid, name, _ in _agency_options()],
        "age_ranges": list(vocab.AGE_RANGE.items()),
        "gender_options": [(k, v) for k, v in vocab.GENDER.items()],
        "households": list(vocab.HOUSEHOLD.items()),
        "urgencies": list(vocab.URGENCY_FOR_HER.items()),
        "accessibility_options": [(a, a.replace("_", " ").capitalize()) for a in ACCESSIBILITY],
        "pii_groups": [
            (category, label, hint, dict(pii_groups())[category])
            for category, label, hint in data_categories()
            if category in dict(PII_GROUPS)
        ],
        "plan_needs": plan_view(),
    }


URGENCY_FIELD = "profile.urgencies."


def _urgency_needs(form: MultiDict[str, str]) -> list[str]:
    """The needs New client asks the urgency of: the plan's, and any other the form posted
    (so a refused value is shown again beside its own field)."""
    needs = [need["category"] for need in plan_view()]
    posted = {name[len(URGENCY_FIELD) :] for name in form if name.startswith(URGENCY_FIELD)}
    return needs + [c.value for c in Category if c.value in posted and c.value not in needs]


@blp.route("/clients/new", methods=["GET", "POST"])
@staff_only("intake")
def new_client() -> Any:
    context = _client_form_context() | {"urgency_needs": _urgency_needs(request.form)}
    if request.method == "GET":  # what the search said about her, not asked twice
        values = MultiDict(plan.profile_defaults())
        return render_template("intake/new_client.html", values=values, **context)
    with forms.rejecting("intake/new_client.html", values=request.form, **context):
        args = forms.load(ClientCreateArgs(), with_language_tags(request.form, "profile.language"))
        record = clients.create_client(g.actor, **args)
    flash(f"Client {record.reference} recorded. Next: her consent.")
    return redirect(url_for("intake.consent", client_id=record.id))


# --- the client ------------------------------------------------------------------------------


def _client_context(client_id: uuid.UUID, details: bool = False) -> dict[str, Any]:
    record = clients.load_owned(g.actor, client_id)  # another agency's: 404
    now = clock.now()
    names = {aid: name for aid, name, _ in _agency_options()}
    records = consent.list_consents(g.actor, client_id)
    shown = consent.disclose_client(g.actor, client_id) if details else None
    return {
        "record": record,
        "profile": record.profile or {},
        "do_not_refer": [
            names.get(aid, "an agency no longer listed") for aid in record.do_not_refer
        ],
        "consents": [
            {
                "id": item.id,
                "status": item.status(now),
                "recipients": [
                    names.get(aid, "an agency no longer listed") for aid in item.covered_recipients
                ],
                "purposes": item.purposes,
                "data_categories": item.data_categories,
                "signed_at": item.signed_at,
                "expires_at": item.expires_at,
                "revoked_at": item.revoked_at,
                "reason": item.revocation_reason,
                "form_language": item.form_language,
            }
            for item in reversed(records)
        ],
        "bundles": sent_dashboard.sent_bundles(
            g.actor, client_id=client_id, open_only=False, limit=20, now=now
        ),
        "runaround": reports.client_runaround(g.actor, client_id),
        "pii": shown.pii if shown else None,
        "category_words": vocab.DATA_CATEGORY,
        "pii_groups": pii_groups(),
        "now": now,
    }


@blp.get("/clients/<uuid:client_id>")
@staff_only("intake")
def client(client_id: uuid.UUID) -> Any:
    context = _client_context(client_id, details=request.args.get("details") == "1")
    return render_template("intake/client.html", values=MultiDict(), **context)


@blp.post("/clients/<uuid:client_id>/consents/<uuid:consent_id>/revoke")
@staff_only("intake")
def revoke(client_id: uuid.UUID, consent_id: uuid.UUID) -> Any:
    context = _client_context(client_id)
    if not any(item["id"] == consent_id for item in context["consents"]):
        consent.load_owned(g.actor, consent_id)  # another agency's: on record as such
        raise NotFound()  # missing, or another client's
    with forms.rejecting("intake/client.html", values=request.form, revoking=consent_id, **context):
        args = forms.load(RevokeArgs(), request.form)
        consent.revoke_consent(g.actor, consent_id, args["reason"])
    flash(
        f"Consent revoked for {context['record'].reference}. Open referrals under it are withdrawn."
    )
    return redirect(url_for("intake.client", client_id=client_id))


# --- consent capture -------------------------------------------------------------------------


def _consent_context(client_id: uuid.UUID, language: str | None) -> dict[str, Any]:
    record = clients.load_owned(g.actor, client_id)
    needs = plan_view()
    planned: dict[str, ServiceSummary] = {}
    for need in needs:
        for service in need["services"]:
            planned.setdefault(str(service.agency_id), service)
    everyone = _agency_options()
    kinds = {aid: kind for aid, _, kind in everyone}
    # organisations not on the hub that her agency refers to: she may name them too
    outside_options = [(str(o.id), o.name) for o in outside.list_organisations(g.actor)]
    text = consent_texts.text_for(language)
    return {
        "record": record,
        "text": text,
        "languages": consent_texts.languages(),
        "plan_needs": needs,
        "planned_agencies": [(aid, s.agency_name, s.agency_kind) for aid, s in planned.items()],
        "other_agencies": [(aid, name) for aid, name, _ in everyone if aid not in planned],
        "agency_names": {aid: name for aid, name, _ in everyone}
        | {aid: name for aid, name in outside_options},
        "outside_organisations": outside_options,
        "law_enforcement": {aid for aid, kind in kinds.items() if is_law_enforcement(kind)},
        "law_enforcement_planned": [
            s.agency_name for s in planned.values() if is_law_enforcement(s.agency_kind)
        ],
        "purpose_options": [(c.value, words(c.value)) for c in Category],
        "data_categories": data_categories(),
        "methods": list(vocab.SIGNING_METHOD.items()),
        "signers": list(vocab.SIGNER.items()),
        "max_days": consent.MAX_DAYS,
        "default_days": consent.DEFAULT_DAYS,
    }


def _consent_defaults(context: dict[str, Any]) -> MultiDict[str, str]:
    now = clock.now().astimezone(forms.display_zone())
    values: MultiDict[str, str] = MultiDict()
    for aid, _, kind in context["planned_agencies"]:
        if not is_law_enforcement(kind):  # she names law enforcement herself, never pre-ticked
            values.add("recipients", aid)
    for need in context["plan_needs"]:
        values.add("purposes", need["category"])
    values.add("data_categories", "profile")
    values["method"] = "written"
    values["signer"] = "survivor"
    values["signed_at"] = now.strftime("%Y-%m-%dT%H:%M")
    values["expires_at"] = (now + timedelta(days=consent.DEFAULT_DAYS)).strftime("%Y-%m-%d")
    return values


@blp.route("/clients/<uuid:client_id>/consent", methods=["GET", "POST"], endpoint="consent")
@staff_only("intake")
def consent_capture(client_id: uuid.UUID) -> Any:
    language = request.args.get("lang") or request.form.get("form_language")
    if not language:  # the form she reads best: her profile's language, when it has one
        profile = clients.load_owned(g.actor, client_id).profile or {}
        language = str(profile.get("language") or "") or None
    context = _consent_context(client_id, language)
    text = context["text"]
    if request.method == "GET":
        return render_template("intake/consent.html", values=_consent_defaults(context), **context)
    with forms.rejecting("intake/consent.html", values=request.form, **context):
        args = forms.load(
            ConsentCreateArgs(),
            request.form,
            form_version=text.form_version,
            form_language=text.language,
        )
        recorded = consent.record_consent(g.actor, client_id, **args)
    flash(f"Consent recorded for {context['record'].reference}. Next: send the referrals.")
    return redirect(bundle_new_url(client_id, recorded.id))
