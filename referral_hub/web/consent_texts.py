"""The release-of-information text a survivor reads before she signs, as data, by language.

Each text carries the `form_version` recorded with the consent, so the hub can always show
which words she agreed to. Change a text → give it a new version (never edit one in
place). The survivor's receipt uses the same words for categories and withdrawal.
Plain language, short sentences: VAWA/FVPSA informed, written, time-limited, revocable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class ConsentText:
    language: str  # BCP 47, recorded as the consent's form_language
    name: str  # the language's own name, for the picker
    form_version: str
    title: str
    paragraphs: tuple[str, ...]
    categories: dict[str, str] = field(default_factory=dict)  # data category → what it is
    recipients_heading: str = ""
    categories_heading: str = ""
    until_heading: str = ""
    withdraw: str = ""
    months: tuple[str, ...] = ()
    date_pattern: str = "{day} {month} {year}"

    def spell_date(self, value: date) -> str:
        """A date as she reads it: "22 December 2026", "22 de diciembre de 2026"."""
        month = self.months[value.month - 1] if self.months else str(value.month)
        return self.date_pattern.format(day=value.day, month=month, year=value.year)


TEXTS: dict[str, ConsentText] = {
    "en": ConsentText(
        language="en",
        name="English",
        form_version="hub-roi-en-2026.1",
        title="Permission to share your information",
        paragraphs=(
            "You decide what we share, with whom, and for how long. "
            "You do not have to sign this to get help from us.",
            "If you sign, we will send only the information you choose below, and only to the "
            "agencies named below, so they can help you with the services you asked for.",
            "An agency first sees only general facts (such as your age range and language). "
            "It sees the rest only after it agrees to help you.",
            "We will not share anything with the police or any law-enforcement agency unless "
            "you name that agency below and choose to allow contact with it.",
            "Every time someone sends or looks at your information, it is written down. "
            "You can ask us who saw what.",
        ),
        categories={
            "profile": "General facts: age range, gender, language, household, urgency. No name.",
            "identity": "Your name and date of birth.",
            "contact": "How to reach you (phone, address, safe times).",
            "narrative": "What happened to you, in your words.",
            "immigration": "Your immigration situation.",
            "health": "Health needs, including medication and pregnancy.",
            "justice": "Court cases, arrests, police reports.",
        },
        recipients_heading="Agencies that may receive it",
        categories_heading="Information you allow us to share",
        until_heading="This permission ends on",
        withdraw="You can take back this permission at any time, by telling any staff "
        "member of our agency in person, by phone or in writing. From that moment the "
        "agencies can no longer open your information.",
        months=(
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
    ),
    "es": ConsentText(
        language="es",
        name="Español",
        form_version="hub-roi-es-2026.1",
        title="Permiso para compartir su información",
        paragraphs=(
            "Usted decide qué compartimos, con quién y por cuánto tiempo. "
            "No tiene que firmar esto para recibir nuestra ayuda.",
            "Si firma, enviaremos solo la información que usted elija abajo, y solo a las "
            "agencias nombradas abajo, para que le ayuden con los servicios que pidió.",
            "Una agencia primero ve solo datos generales (como su rango de edad y su idioma). "
            "Ve el resto solo después de aceptar ayudarle.",
            "No compartiremos nada con la policía ni con ninguna agencia de seguridad pública, "
            "a menos que usted nombre esa agencia abajo y elija permitir el contacto con ella.",
            "Cada vez que alguien envía o mira su información, queda registrado. "
            "Puede preguntarnos quién vio qué.",
        ),
        categories={
            "profile": "Datos generales: rango de edad, género, idioma, hogar, urgencia. "
            "Sin nombre.",
            "identity": "Su nombre y fecha de nacimiento.",
            "contact": "Cómo comunicarse con usted (teléfono, dirección, horas seguras).",
            "narrative": "Lo que le pasó, en sus palabras.",
            "immigration": "Su situación migratoria.",
            "health": "Necesidades de salud, incluidos medicamentos y embarazo.",
            "justice": "Casos judiciales, arrestos, denuncias policiales.",
        },
        recipients_heading="Agencias que pueden recibirla",
        categories_heading="Información que nos permite compartir",
        until_heading="Este permiso termina el",
        withdraw="Puede retirar este permiso en cualquier momento, diciéndoselo a cualquier "
        "persona de nuestra agencia en persona, por teléfono o por escrito. Desde ese "
        "momento las agencias ya no pueden abrir su información.",
        months=(
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ),
        date_pattern="{day} de {month} de {year}",
    ),
}


def text_for(language: str | None) -> ConsentText:
    """The text in `language` (its primary subtag), or English."""
    code = (language or DEFAULT_LANGUAGE).split("-", 1)[0].lower()
    return TEXTS.get(code, TEXTS[DEFAULT_LANGUAGE])


def languages() -> list[tuple[str, str]]:
    """(code, own name) of every language a text exists in."""
    return [(text.language, text.name) for text in TEXTS.values()]


def by_version(form_version: str) -> ConsentText | None:
    """The text a recorded consent was signed on (for receipts)."""
    return next((text for text in TEXTS.values() if text.form_version == form_version), None)
