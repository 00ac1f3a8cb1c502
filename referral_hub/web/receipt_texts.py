"""The survivor's receipt, in words she understands, in the language of her consent.

Data, not templates: a translator edits these strings only. `{name}` placeholders are
filled by the template. Add a language by adding one entry to `TEXTS` with every key of
English (a test checks that no key is missing).
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Your referral receipt",
        "intro": (
            "Keep this paper. It says who received information about you today, and how to stop it."
        ),
        "reference": "Your reference",
        "reference_hint": "Give this reference when you call. It is not your name.",
        "date": "Date",
        "sent_by": "Sent for you by",
        "agencies_heading": "Who received information about you",
        "asked": "We asked them for",
        "shared_first": "What they see now",
        "shared_first_value": "Only basic facts about your needs (no name, no address)",
        "shared_later": "What they can see once they accept to help you",
        "nothing_more": "Nothing more than the basic facts",
        "basic": "basic facts about your needs",
        "closed": "Nothing any more: this request is closed.",
        "access_ended": ("Nothing any more: your permission for them was taken back or has ended."),
        "until": "They can see it until",
        "until_value": ("{date}, or earlier if you say stop or when their help for you ends"),
        "until_no_consent": "Only while they answer this request or help you",
        "nobody": "No agency has received anything yet.",
        "withdraw_heading": "If you want to stop sharing",
        "withdraw_who": (
            "Call or visit {agency} and say that you want to take back your permission. "
            "Give your reference."
        ),
        "withdraw_what": (
            "From that moment the agencies above can no longer see your information. "
            "Requests they have not yet accepted are cancelled. You can still ask for help "
            "again at any time."
        ),
        "expires": "Your permission ends by itself on {date}.",
        "no_consent": (
            "You did not sign a permission to share your information. The agencies only "
            "received basic facts about your needs, without your name."
        ),
        "safety": (
            "This paper has no name or address on it. Keep it somewhere safe, or do not "
            "keep it: the agency can tell you the same things when you call."
        ),
        "categories": {
            "emergency_shelter": "a safe place to stay tonight",
            "transitional_housing": "housing for the coming months",
            "immigration_counsel": "help with immigration",
            "legal_advocacy": "legal help",
            "primary_care": "a doctor or nurse",
            "mental_health": "someone to talk to about how you feel",
            "substance_use": "help with alcohol or drugs",
            "case_management": "a case worker",
            "interpretation": "an interpreter",
            "job_training": "help to find work",
            "other": "other help",
        },
        "data": {
            "identity": "who you are (name, date of birth)",
            "contact": "how to reach you (phone, address)",
            "narrative": "what happened to you",
            "immigration": "your immigration situation",
            "health": "your health",
            "justice": "police or court matters",
        },
    },
    "es": {
        "title": "Su comprobante de derivación",
        "intro": (
            "Guarde este papel. Dice quién recibió información sobre usted hoy y cómo detenerlo."
        ),
        "reference": "Su número de referencia",
        "reference_hint": "Dé este número cuando llame. No es su nombre.",
        "date": "Fecha",
        "sent_by": "Enviado en su nombre por",
        "agencies_heading": "Quién recibió información sobre usted",
        "asked": "Les pedimos",
        "shared_first": "Lo que ven ahora",
        "shared_first_value": (
            "Solo datos básicos sobre lo que necesita (sin nombre, sin dirección)"
        ),
        "shared_later": "Lo que pueden ver cuando acepten ayudarle",
        "nothing_more": "Nada más que los datos básicos",
        "basic": "datos básicos sobre lo que necesita",
        "closed": "Nada ya: esta solicitud está cerrada.",
        "access_ended": "Nada ya: su permiso para ellos fue retirado o terminó.",
        "until": "Pueden verlo hasta",
        "until_value": ("el {date}, o antes si usted dice que paren o cuando termine su ayuda"),
        "until_no_consent": "Solo mientras responden a esta solicitud o le ayudan",
        "nobody": "Ninguna agencia ha recibido nada todavía.",
        "withdraw_heading": "Si quiere dejar de compartir",
        "withdraw_who": (
            "Llame o vaya a {agency} y diga que quiere retirar su permiso. "
            "Dé su número de referencia."
        ),
        "withdraw_what": (
            "Desde ese momento, las agencias de arriba ya no pueden ver su información. "
            "Las solicitudes que todavía no aceptaron se cancelan. Usted puede volver a "
            "pedir ayuda cuando quiera."
        ),
        "expires": "Su permiso termina solo el {date}.",
        "no_consent": (
            "Usted no firmó un permiso para compartir su información. Las agencias solo "
            "recibieron datos básicos sobre lo que necesita, sin su nombre."
        ),
        "safety": (
            "Este papel no tiene su nombre ni su dirección. Guárdelo en un lugar seguro, o "
            "no lo guarde: la agencia le puede decir lo mismo cuando llame."
        ),
        "categories": {
            "emergency_shelter": "un lugar seguro para dormir esta noche",
            "transitional_housing": "vivienda para los próximos meses",
            "immigration_counsel": "ayuda con inmigración",
            "legal_advocacy": "ayuda legal",
            "primary_care": "un médico o una enfermera",
            "mental_health": "alguien con quien hablar de cómo se siente",
            "substance_use": "ayuda con alcohol o drogas",
            "case_management": "una trabajadora de casos",
            "interpretation": "un intérprete",
            "job_training": "ayuda para encontrar trabajo",
            "other": "otra ayuda",
        },
        "data": {
            "identity": "quién es usted (nombre, fecha de nacimiento)",
            "contact": "cómo contactarle (teléfono, dirección)",
            "narrative": "lo que le pasó",
            "immigration": "su situación migratoria",
            "health": "su salud",
            "justice": "asuntos de policía o tribunales",
        },
    },
}

DEFAULT = "en"


def texts_for(language: str | None) -> tuple[str, dict[str, Any]]:
    """(language tag for `<html lang>`, texts): `es-MX` reads Spanish; unknown: English."""
    primary = (language or DEFAULT).split("-")[0].split("_")[0].lower()
    if primary in TEXTS:
        return primary, TEXTS[primary]
    return DEFAULT, TEXTS[DEFAULT]
