"""The directory's fixed vocabularies. Pure: no database, no Flask.

Populations, genders and trafficking types are small closed sets, stored as bit masks so
that "serves every population asked for" is one integer test on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Category(StrEnum):
    EMERGENCY_SHELTER = "emergency_shelter"
    TRANSITIONAL_HOUSING = "transitional_housing"
    IMMIGRATION_COUNSEL = "immigration_counsel"
    LEGAL_ADVOCACY = "legal_advocacy"
    PRIMARY_CARE = "primary_care"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"
    CASE_MANAGEMENT = "case_management"
    INTERPRETATION = "interpretation"
    JOB_TRAINING = "job_training"
    OTHER = "other"


class Unit(StrEnum):
    BED = "bed"
    SLOT = "slot"
    APPOINTMENT = "appointment"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    TEMPORARILY_CLOSED = "temporarily_closed"
    DEFUNCT = "defunct"


POPULATIONS = (
    "minor",
    "foreign_national",
    "tribal",
    "in_custody",
    "lgbtq",
    "with_children",
    "male",
)
GENDERS = ("female", "male", "nonbinary", "transgender")
TRAFFICKING_TYPES = ("sex", "labor")
ACCESSIBILITY = ("wheelchair", "sign_language", "braille", "service_animals", "ground_floor")

# categories whose unit is a bed: numbers change by the hour
BED_CATEGORIES = frozenset({Category.EMERGENCY_SHELTER, Category.TRANSITIONAL_HOUSING})


def default_unit(category: Category) -> Unit:
    if category in BED_CATEGORIES:
        return Unit.BED
    if category in (Category.PRIMARY_CARE, Category.MENTAL_HEALTH, Category.IMMIGRATION_COUNSEL):
        return Unit.APPOINTMENT
    return Unit.SLOT


def mask(values: Iterable[str], vocabulary: tuple[str, ...]) -> int:
    """Bit mask of `values`; raises ValueError on a value outside the vocabulary."""
    result = 0
    for value in values:
        result |= 1 << vocabulary.index(value)
    return result


def unmask(bits: int, vocabulary: tuple[str, ...]) -> list[str]:
    return [name for index, name in enumerate(vocabulary) if bits & (1 << index)]


def primary_language(tag: str) -> str:
    """BCP 47 primary subtag, lower-case: "es-MX" → "es"."""
    return tag.split("-", 1)[0].lower()
