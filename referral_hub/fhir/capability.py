"""The CapabilityStatement: exactly what /fhir implements, no more (kept beside the views'
own parameter lists, which it reads, so the two cannot drift apart)."""

from __future__ import annotations

from datetime import datetime

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from referral_hub.fhir import codes, search
from referral_hub.fhir.resources import instant

SEARCH_TYPES = {
    "category": "token",
    "location.near": "special",
    "owner": "reference",
    "requester": "reference",
    "status": "token",
    "_lastUpdated": "date",
    "_count": "number",
    "_cursor": "string",
}


def _params(names: frozenset[str]) -> list[dict[str, str]]:
    return [
        {"name": name, "type": SEARCH_TYPES[name]}
        for name in sorted(names - {"_format"})
        if name in SEARCH_TYPES
    ]


def statement(base: str, now: datetime) -> CapabilityStatement:
    read = [{"code": "read"}]
    resources = [
        {
            "type": "HealthcareService",
            "supportedProfile": [codes.HEALTHCARE_SERVICE_PROFILE],
            "interaction": [*read, {"code": "search-type"}],
            "searchParam": _params(search.HEALTHCARE_SERVICE),
        },
        {
            "type": "Task",
            "supportedProfile": [codes.TASK_PROFILE],
            "interaction": [
                *read,
                {"code": "search-type"},
                {"code": "create"},
                {"code": "update"},
                {"code": "patch"},
            ],
            "searchParam": _params(search.TASK),
        },
        {
            "type": "ServiceRequest",
            "supportedProfile": [codes.SERVICE_REQUEST_PROFILE],
            "interaction": read,
        },
        {"type": "Consent", "supportedProfile": [codes.CONSENT_PROFILE], "interaction": read},
        {"type": "Patient", "interaction": read},
    ]
    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": instant(now),
            "publisher": "referral_hub",
            "kind": "instance",
            "implementation": {"description": "referral_hub FHIR interface", "url": base},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "patchFormat": ["application/json-patch+json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "service": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                        "code": "OAuth",
                                    }
                                ]
                            }
                        ],
                        "description": "Bearer tokens from /oauth/token (client credentials), "
                        "with the JSON API's scopes: directory:read, referrals:read, "
                        "referrals:write, clients:read, clients:write.",
                    },
                    "resource": resources,
                }
            ],
        }
    )
