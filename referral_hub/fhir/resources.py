"""Hub objects as FHIR R4 resources (SDOHCC profiles), each built through its fhir.resources
R4B model so that nothing leaves that the model would not parse.

Mapping only: what a reader may see was decided by the service that handed the object over
(the directory's location rule, the consent policy's readable categories).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from referral_hub.fhir import codes
from referral_hub.referrals.states import State

SOCIAL_SERVICE = {
    "system": codes.SNOMED,
    "code": "410606002",
    "display": "Social service procedure",
}
# hub service categories that match one of the guide's SDOH categories
SDOH_CATEGORY = {
    "emergency_shelter": ("homelessness", "Homelessness"),
    "transitional_housing": ("housing-instability", "Housing Instability"),
    "interpretation": ("language-access", "Language Access"),
    "job_training": ("employment-status", "Employment Status"),
}
GENDER = {"female": "female", "male": "male", "nonbinary": "other", "transgender": "other"}


def as_json(resource: Resource) -> dict[str, Any]:
    """The resource as FHIR JSON (aliases such as `for`, no empty elements)."""
    dumped: dict[str, Any] = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def instant(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _label(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": _label(code)}


def ref(kind: str, ident: object, display: str | None = None) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"{kind}/{ident}"}
    if display:
        reference["display"] = display
    return reference


# --- directory ------------------------------------------------------------------------------


def capacity_status(capacity: dict[str, Any] | None) -> dict[str, Any]:
    """The guide's capacity-status extension from the live capacity: stale or never-set
    figures are not offered as true (`additional-assessment-required`, the last figure in the
    note)."""
    if capacity is None:
        status, note = "additional-assessment-required", "Capacity not published."
    else:
        figure = (
            f"{capacity['available']} of {capacity['total']} {capacity['unit']}(s) free, "
            f"updated {instant(capacity['updated_at'])} ({capacity['freshness']})."
        )
        if capacity["stale"]:
            status, note = "additional-assessment-required", f"Stale: {figure}"
        elif capacity["available"] > 0:
            status, note = "capacity", figure
        else:
            status, note = "no-capacity", figure
    displays = {
        "capacity": "Has Capacity",
        "no-capacity": "No Capacity",
        "additional-assessment-required": "Additional Assessment Required",
    }
    return {
        "url": codes.CAPACITY_EXTENSION,
        "extension": [
            {
                "url": "capacityStatus",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": codes.SDOHCC_TEMP, "code": status, "display": displays[status]}
                    ]
                },
            },
            {"url": "capacityNotes", "valueString": note},
        ],
    }


def healthcare_service(view: dict[str, Any]) -> HealthcareService:
    """From the directory's own description of a service (`directory.service.describe`), which
    already holds back a confidential site's address and exact point."""
    category = view["category"]
    codings = [
        {"system": codes.US_CORE_CATEGORY, "code": "sdoh", "display": "SDOH"},
        _coding(codes.SERVICE_CATEGORY, category),
    ]
    if category in SDOH_CATEGORY:
        code, display = SDOH_CATEGORY[category]
        codings.append({"system": codes.SDOHCC_TEMP, "code": code, "display": display})
    place = view["location"]
    street = place.get("address") or {}  # the owner's own view only: others get none
    if isinstance(street, str):
        street = {"street": street}
    address = {
        key: value
        for key, value in (
            ("line", [street["street"]] if street.get("street") else None),
            ("postalCode", street.get("postal_code")),
            ("city", place.get("city")),
            ("state", place.get("region")),
            ("country", place.get("country")),
        )
        if value
    }
    location: dict[str, Any] = {"resourceType": "Location", "id": "site", "status": "active"}
    if place.get("name"):
        location["name"] = place["name"]
    if address:
        location["address"] = address
    if place.get("latitude") is not None and place.get("longitude") is not None:
        location["position"] = {"latitude": place["latitude"], "longitude": place["longitude"]}
    telecom = [
        {"system": system, "value": view[key]}
        for system, key in (("phone", "phone"), ("email", "email"), ("url", "url"))
        if view.get(key)
    ]
    active = view["status"] == "active"
    body: dict[str, Any] = {
        "resourceType": "HealthcareService",
        "id": str(view["id"]),
        "meta": {"lastUpdated": instant(view["updated_at"])},
        "extension": [capacity_status(view["capacity"])],
        "active": active,
        "providedBy": ref("Organization", view["agency_id"], view["agency_name"]),
        "category": [{"coding": codings}],
        "type": [{"coding": [_coding(codes.SERVICE_CATEGORY, category)], "text": _label(category)}],
        "name": view["name"],
        "contained": [location],
        "location": [{"reference": "#site"}],
    }
    if active:  # the profile fixes active = true: an inactive service does not claim it
        body["meta"]["profile"] = [codes.HEALTHCARE_SERVICE_PROFILE]
    if view.get("description"):
        body["comment"] = view["description"][:1000]
    if telecom:
        body["telecom"] = telecom
    languages = view["eligibility"].get("languages") or []
    if languages:
        body["communication"] = [
            {"coding": [{"system": "urn:ietf:bcp:47", "code": tag}]} for tag in languages
        ]
    return HealthcareService.model_validate(body)


# --- referrals ------------------------------------------------------------------------------


def task(view: dict[str, Any], names: dict[str, str]) -> Task:
    """A referral (`referrals.service.describe`) as the guide's Task For Referral Management.

    `names` gives the agencies' names by id (for display). No survivor data: the Task points
    at her Patient, which is read through the consent policy on its own.
    """
    state = State(view["status"])
    mapped = codes.TASK_STATUS[state]
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(view["id"]),
        "meta": {"profile": [codes.TASK_PROFILE], "lastUpdated": instant(view["updated_at"])},
        "status": mapped.status,
        "businessStatus": {
            "coding": [_coding(codes.REFERRAL_STATE, state.value)],
            "text": _label(state.value),
        },
        "intent": "order",
        "priority": codes.PRIORITY_FOR_URGENCY[view["urgency"]],
        "code": {
            "coding": [
                {
                    "system": codes.TASK_CODE,
                    "code": "fulfill",
                    "display": "Fulfill the focal request",
                }
            ]
        },
        "focus": ref("ServiceRequest", view["id"]),
        "for": ref("Patient", view["client_id"]),
        "authoredOn": instant(view["created_at"]),
        "lastModified": instant(view["updated_at"]),
        "requester": ref(
            "Organization", view["sender_agency"], names.get(str(view["sender_agency"]))
        ),
        "owner": ref(
            "Organization", view["receiver_agency"], names.get(str(view["receiver_agency"]))
        ),
        "identifier": [
            {"system": f"{codes.HUB}/client-reference", "value": view["client_reference"]}
        ],
    }
    if mapped.reason:
        reason: dict[str, Any] = {"text": mapped.reason}
        if view.get("decline_reason"):
            reason["coding"] = [_coding(codes.DECLINE_REASON, view["decline_reason"])]
        elif state == State.NOT_COMPLETED and view.get("outcome"):
            reason["coding"] = [_coding(codes.OUTCOME, view["outcome"])]
        body["statusReason"] = reason
    if view.get("respond_by") and state not in (State.DRAFT,):
        body["restriction"] = {"period": {"end": instant(view["respond_by"])}}
    return Task.model_validate(body)


SERVICE_REQUEST_STATUS = {
    State.DRAFT: "draft",
    State.COMPLETED: "completed",
    State.ENTERED_IN_ERROR: "entered-in-error",
}
_ENDED = {State.NOT_COMPLETED, State.DECLINED, State.WITHDRAWN, State.EXPIRED, State.SUPERSEDED}


def service_request(view: dict[str, Any], category: str, names: dict[str, str]) -> ServiceRequest:
    """The referral itself: what is asked (the service's category), of whom, under which
    consent. No note and no survivor data."""
    state = State(view["status"])
    status = SERVICE_REQUEST_STATUS.get(state, "revoked" if state in _ENDED else "active")
    body: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(view["id"]),
        "meta": {
            "profile": [codes.SERVICE_REQUEST_PROFILE],
            "lastUpdated": instant(view["updated_at"]),
        },
        "status": status,
        "intent": "order",
        "category": [
            {"coding": [SOCIAL_SERVICE]},
            {"coding": [_coding(codes.SERVICE_CATEGORY, category)]},
        ],
        "code": {"coding": [SOCIAL_SERVICE], "text": _label(category)},
        "priority": codes.PRIORITY_FOR_URGENCY[view["urgency"]],
        "subject": ref("Patient", view["client_id"]),
        "authoredOn": instant(view["created_at"]),
        "requester": ref(
            "Organization", view["sender_agency"], names.get(str(view["sender_agency"]))
        ),
        "performer": [ref("HealthcareService", view["service"])],
    }
    if view.get("consent_id"):
        body["supportingInfo"] = [ref("Consent", view["consent_id"])]
    return ServiceRequest.model_validate(body)


def consent(
    record: Any,
    status: str,
    *,
    recipients: list[str],
    purposes: list[str],
    categories: list[str],
) -> Consent:
    """Her consent as the guide's SDOHCC Consent. The caller passes what this reader may see
    of it (the owner: everything; a receiver: itself, its referral's purpose, and the
    categories it reads now)."""
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": instant(record.signed_at), "end": instant(record.expires_at)},
    }
    if recipients:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": codes.PARTICIPATION_TYPE,
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": ref("Organization", agency),
            }
            for agency in recipients
        ]
    if purposes:
        provision["purpose"] = [_coding(codes.SERVICE_CATEGORY, code) for code in purposes]
    if categories:
        provision["class"] = [_coding(codes.DATA_CATEGORY, code) for code in categories]
    body: dict[str, Any] = {
        "resourceType": "Consent",
        "id": str(record.id),
        "meta": {"profile": [codes.CONSENT_PROFILE]},
        "status": "active" if status == "active" else "inactive",
        "scope": {
            "coding": [
                {
                    "system": codes.CONSENT_SCOPE,
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {"system": codes.ACT_CODE, "code": "IDSCL", "display": "information disclosure"}
                ]
            }
        ],
        "patient": ref("Patient", record.client_id),
        "dateTime": instant(record.signed_at),
        "organization": [ref("Organization", record.owner_agency_id)],
        "sourceAttachment": {
            "contentType": "text/plain",
            "language": record.form_language,
            "title": f"Consent form version {record.form_version} ({record.method})",
        },
        "provision": provision,
    }
    return Consent.model_validate(body)


def patient(
    client_id: object, reference: str, profile: dict[str, Any], pii: dict[str, Any]
) -> Patient:
    """Her record as this reader may see it: `pii` holds only the categories the consent
    policy opened (identity: name, birth date; contact: telecom), `profile` only when read."""
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(client_id),
        "identifier": [{"system": f"{codes.HUB}/client-reference", "value": reference}],
    }
    if profile.get("gender"):
        body["gender"] = GENDER.get(profile["gender"], "unknown")
    if profile.get("language"):
        body["communication"] = [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": profile["language"]}]}}
        ]
    if pii.get("name"):
        body["name"] = [{"text": pii["name"]}]
    if pii.get("dob"):
        body["birthDate"] = str(pii["dob"])
    if pii.get("contact"):
        value = str(pii["contact"])
        body["telecom"] = [{"system": "email" if "@" in value else "phone", "value": value}]
    return Patient.model_validate(body)


# --- searches -------------------------------------------------------------------------------


def searchset(resources: list[Resource], base: str, self_url: str, next_url: str | None) -> Bundle:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{base}/{item.get_resource_type()}/{item.id}",
                    "resource": as_json(item),
                    "search": {"mode": "match"},
                }
                for item in resources
            ],
        }
    )
