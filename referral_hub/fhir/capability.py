"""The CapabilityStatement: exactly what /fhir implements, no more (kept beside the views'
own parameter lists, which it reads, so the two cannot drift apart)."""

from __future__ import annotations

from datetime import datetime

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from referral_hub.auth.assertions import ALGORITHMS, METHOD, token_endpoint
from referral_hub.fhir import codes, search
from referral_hub.fhir.resources import instant

# the JSON API's scopes that reach /fhir
SCOPES = ("directory:read", "referrals:read", "referrals:write", "clients:read", "clients:write")
SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"

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
                        "extension": [
                            {
                                "url": SMART_OAUTH_URIS,
                                "extension": [{"url": "token", "valueUri": token_endpoint()}],
                            }
                        ],
                        "service": [
                            {
                                "coding": [
                                    {"system": SECURITY_SERVICE, "code": "OAuth"},
                                    {"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"},
                                ]
                            }
                        ],
                        "description": "Bearer tokens from /oauth/token (client credentials; "
                        "the client authenticates with its secret or, as SMART backend "
                        "services do, with a signed assertion: private_key_jwt, RS384 or "
                        "ES384, see .well-known/smart-configuration), with the JSON API's "
                        f"scopes: {', '.join(SCOPES)}.",
                    },
                    "resource": resources,
                }
            ],
        }
    )


def smart_configuration() -> dict[str, object]:
    """What a SMART backend-services client discovers before asking for a token."""
    return {
        "token_endpoint": token_endpoint(),
        "token_endpoint_auth_methods_supported": [METHOD, "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(SCOPES),
        "capabilities": ["client-confidential-asymmetric"],
    }
