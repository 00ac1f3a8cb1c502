"""Client shapes for the API (her consents' shapes are in consent.schemas)."""

from __future__ import annotations

from marshmallow import fields, validate

from referral_hub.core.schemas import HubSchema, Pattern
from referral_hub.directory.vocabulary import Category

URGENCIES = ["emergency", "urgent", "routine"]
NEEDS = [category.value for category in Category]
BCP47 = Pattern(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="Not a BCP 47 language tag.")


# her needs' urgencies, one optional field per service category
NeedUrgenciesSchema = HubSchema.from_dict(
    {need: fields.String(validate=validate.OneOf(URGENCIES)) for need in NEEDS},
    name="NeedUrgenciesSchema",
)


class ProfileSchema(HubSchema):
    """Non-identifying needs: may travel with a referral without consent."""

    age_range = fields.String(
        validate=validate.OneOf(["under_12", "12_17", "18_24", "25_39", "40_59", "60_plus"])
    )
    gender = fields.String(
        validate=validate.OneOf(["female", "male", "nonbinary", "transgender", "undisclosed"])
    )
    language = fields.String(validate=BCP47)
    household = fields.String(
        validate=validate.OneOf(["alone", "with_children", "with_adults", "with_family"])
    )
    accessibility = fields.List(
        fields.String(validate=validate.Length(max=40)), validate=validate.Length(max=10)
    )
    urgency = fields.String(
        validate=validate.OneOf(URGENCIES),
        metadata={"description": "Overall: for a need with no urgency of its own."},
    )
    urgencies = fields.Nested(
        NeedUrgenciesSchema,
        metadata={
            "description": "Each need's urgency, by service category, asked once at intake: "
            "a bundle for her starts from it. Only her own agency reads it."
        },
    )


class PiiSchema(HubSchema):
    name = fields.String(validate=validate.Length(max=200))
    dob = fields.Date()
    contact = fields.String(validate=validate.Length(max=500))
    narrative = fields.String(validate=validate.Length(max=20_000))
    immigration = fields.String(validate=validate.Length(max=5_000))
    health = fields.String(validate=validate.Length(max=5_000))
    justice = fields.String(validate=validate.Length(max=5_000))


class ClientCreateArgs(HubSchema):
    reference = fields.String(
        validate=Pattern(
            r"^[A-Za-z0-9-]{4,40}$", error="Use 4 to 40 letters, digits and dashes (no spaces)."
        )
    )
    profile = fields.Nested(ProfileSchema, load_default=dict)
    pii = fields.Nested(PiiSchema, load_default=dict)
    do_not_refer = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=200))


class ClientCreatedSchema(HubSchema):
    """Dumped from the client record itself."""

    id = fields.UUID()
    reference = fields.String()
    created_at = fields.AwareDateTime()
    owner_agency = fields.UUID(attribute="owner_agency_id")


class ClientSchema(HubSchema):
    id = fields.UUID()
    reference = fields.String()
    owner_agency = fields.UUID()
    profile = fields.Dict()
    pii = fields.Dict(metadata={"description": "Only the categories the consent policy allows."})
    categories = fields.List(fields.String(), metadata={"description": "Categories shown."})
    do_not_refer = fields.List(fields.UUID())
    consent_id = fields.UUID(allow_none=True)
