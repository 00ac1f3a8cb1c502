"""Every word the staff pages put on a code: one map per concept, in the reader's language.

The codes themselves live with their feature (`directory/vocabulary.py`,
`referrals/states.py`, `referrals/deadlines.py`, `reports/limbo.py`, `auth/scopes.py`, …);
here each code gets the words a worker reads, marked for translation and translated when
the page is rendered (`lazy_gettext`), so the request's language applies.
`tests/web/test_words.py` holds every code of each vocabulary to having words here: a new code
cannot reach a page as a bare code.

A value is a lazy string: it renders in templates and formats as text; give it to anything
that stores or joins it (`flash`, `", ".join`) as `str(word)`.
"""

from __future__ import annotations

from babel.support import LazyProxy

from referral_hub.web.i18n import lazy_gettext as _l

Words = dict[str, LazyProxy]

# --- the directory ------------------------------------------------------------------------

CATEGORY: Words = {
    "emergency_shelter": _l("Emergency shelter"),
    "transitional_housing": _l("Transitional housing"),
    "immigration_counsel": _l("Immigration counsel"),
    "legal_advocacy": _l("Legal advocacy"),
    "primary_care": _l("Primary care"),
    "mental_health": _l("Mental health"),
    "substance_use": _l("Substance use"),
    "case_management": _l("Case management"),
    "interpretation": _l("Interpretation"),
    "job_training": _l("Job training"),
    "other": _l("Other"),
    "law_enforcement_contact": _l("Contact with law enforcement"),
}
POPULATION: Words = {
    "minor": _l("Minors (under 18)"),
    "foreign_national": _l("Foreign nationals / no status"),
    "tribal": _l("Tribal members"),
    "in_custody": _l("People in custody"),
    "lgbtq": _l("LGBTQ+"),
    "with_children": _l("People with children"),
    "male": _l("Men and boys"),
}
GENDER: Words = {
    "female": _l("Female"),
    "male": _l("Male"),
    "nonbinary": _l("Nonbinary"),
    "transgender": _l("Transgender"),
    "undisclosed": _l("Prefers not to say"),
}
# the languages a worker may type by name (intake's datalist offers these)
LANGUAGE: Words = {
    "en": _l("English"),
    "es": _l("Spanish"),
    "tl": _l("Tagalog"),
    "vi": _l("Vietnamese"),
    "zh": _l("Chinese"),
    "ht": _l("Haitian Creole"),
    "uk": _l("Ukrainian"),
    "ar": _l("Arabic"),
    "ru": _l("Russian"),
    "fr": _l("French"),
    "pt": _l("Portuguese"),
}
ACCESSIBILITY: Words = {
    "wheelchair": _l("wheelchair access"),
    "sign_language": _l("sign language"),
    "braille": _l("Braille"),
    "service_animals": _l("service animals"),
    "ground_floor": _l("ground-floor rooms"),
}
TRAFFICKING: Words = {
    "sex": _l("survivors of sex trafficking"),
    "labor": _l("survivors of labour trafficking"),
}
# how recent a service's capacity figure is (`directory/freshness.py`)
FRESHNESS: Words = {
    "fresh": _l("Fresh"),
    "aging": _l("Aging"),
    "stale": _l("Stale — call to check"),
    "unknown": _l("Never set"),
}

# --- referrals, needs and bundles ---------------------------------------------------------

# a referral's state, as either side reads it (`referrals/states.State`)
REFERRAL_STATUS: Words = {
    "draft": _l("Not sent yet"),
    "sent": _l("New — not opened yet"),
    "acknowledged": _l("Seen — deciding"),
    "info_requested": _l("More information asked of the sender"),
    "waitlisted": _l("On the waiting list"),
    "accepted": _l("Accepted — a place is held for her"),
    "engaged": _l("She arrived"),
    "completed": _l("Completed"),
    "not_completed": _l("Ended unfinished"),
    "declined": _l("Declined"),
    "withdrawn": _l("Withdrawn by the sender"),
    "expired": _l("Expired — no answer in time"),
    "superseded": _l("Closed — another service accepted first"),
    "entered_in_error": _l("Entered in error"),
}
# one need of a bundle (`referrals/schemas.NEED_STATUSES`)
NEED_STATUS: Words = {
    "searching": _l("Nothing open — refer again"),
    "pending": _l("Waiting for an answer"),
    "placed": _l("Placed"),
    "met": _l("Met"),
    "unmet": _l("Not met — every referral ended"),
}
# a whole bundle (`referrals/bundles.py`)
BUNDLE_STATUS: Words = {
    "open": _l("Still open"),
    "placed": _l("Every need placed"),
    "met": _l("Every need met"),
}
DECLINE_REASON: Words = {
    "no_capacity": _l("No space free"),
    "not_eligible": _l("Not eligible for this service"),
    "safety_conflict": _l("Safety conflict"),
    "out_of_area": _l("Outside the service area"),
    "language": _l("Cannot serve her language"),
    "other": _l("Other reason (see the note)"),
}
UNFINISHED_REASON: Words = {
    "no_show": _l("She did not arrive"),
    "left": _l("She left"),
    "unreachable": _l("We cannot reach her"),
    "ineligible_after_assessment": _l("Not eligible after assessment"),
}
EXTENSION_REASON: Words = {
    "transport_delayed": _l("Her transport is delayed"),
    "discharge_delayed": _l("Her hospital discharge is delayed"),
    "client_requested": _l("She asked for more time"),
    "safety_planning": _l("Safety planning takes longer"),
    "other": _l("Another reason"),
}
# which deadline a referral is running against (`referrals/deadlines.py`)
DEADLINE: Words = {
    "acknowledge": _l("Acknowledge"),
    "decide": _l("Decide"),
    "arrive": _l("Arrival due"),
}
# the receiver's answers: (button, what the page says once it is done)
RECEIVER_ACTION: dict[str, tuple[LazyProxy, LazyProxy]] = {
    "acknowledge": (
        _l("Acknowledge"),
        _l("Acknowledged: the sender knows you are looking at it."),
    ),
    "request-info": (
        _l("Ask the sender"),
        _l("Question sent; the referral waits for the answer."),
    ),
    "waitlist": (_l("Put on the waiting list"), _l("Put on your waiting list.")),
    "accept": (_l("Accept"), _l("Accepted: one place is held for her.")),
    "decline": (_l("Decline"), _l("Declined; the sender was told.")),
    "confirm-arrival": (_l("Confirm she arrived"), _l("Arrival confirmed.")),
    "complete": (_l("Complete"), _l("Marked completed.")),
    "end-unfinished": (_l("End unfinished"), _l("Ended unfinished.")),
}
# what a survivor's data category holds (`consent/policy.CATEGORIES`); in a sentence, `|lower`
DATA_CATEGORY: Words = {
    "profile": _l("Basic profile (no name)"),
    "identity": _l("Identity"),
    "contact": _l("Contact details"),
    "narrative": _l("Her story"),
    "immigration": _l("Immigration"),
    "health": _l("Health"),
    "justice": _l("Justice / court"),
}
# what each is for, for the worker choosing the minimum necessary
DATA_CATEGORY_HINT: Words = {
    "profile": _l(
        "Age range, gender, language, household, urgency. No name: "
        "may go with any referral, even without consent."
    ),
    "identity": _l(
        "Name and date of birth. Only if the service must know who "
        "is coming (a bed booked in her name, an appointment)."
    ),
    "contact": _l(
        "How to reach her safely. Only if the service will call or write to her directly."
    ),
    "narrative": _l(
        "What happened, in her words, so she does not retell it. "
        "Share only with services that need it (legal, counselling)."
    ),
    "immigration": _l("Status and documents. For immigration counsel; rarely anyone else."),
    "health": _l(
        "Conditions, medication, pregnancy. For clinics, or a shelter "
        "that must know of a health need."
    ),
    "justice": _l(
        "Court cases, arrests, police reports. For legal help (for example record relief)."
    ),
}
# each sealed field of her record (`clients/service.py`)
PII_FIELD: Words = {
    "name": _l("Name"),
    "dob": _l("Date of birth"),
    "contact": _l("Contact details"),
    "narrative": _l("Her story"),
    "immigration": _l("Immigration situation"),
    "health": _l("Health needs"),
    "justice": _l("Justice involvement"),
}

# --- her needs profile and her consent ----------------------------------------------------

# the facts of her needs profile (`clients/schemas.ProfileSchema`)
PROFILE_FACT: Words = {
    "age_range": _l("Age"),
    "gender": _l("Gender"),
    "language": _l("Language"),
    "household": _l("Household"),
    "accessibility": _l("Access needs"),
    "urgency": _l("Urgency"),
    "urgencies": _l("Urgency of each need"),
}
AGE_RANGE: Words = {
    "under_12": _l("Under 12"),
    "12_17": _l("12 to 17"),
    "18_24": _l("18 to 24"),
    "25_39": _l("25 to 39"),
    "40_59": _l("40 to 59"),
    "60_plus": _l("60 or older"),
}
HOUSEHOLD: Words = {
    "alone": _l("Alone"),
    "with_children": _l("With children"),
    "with_adults": _l("With other adults"),
    "with_family": _l("With family"),
}
# an urgency (`referrals/deadlines.Urgency`) in a word
URGENCY: Words = {
    "emergency": _l("Emergency"),
    "urgent": _l("Urgent"),
    "routine": _l("Routine"),
}
# asked of her need (New client): what it means for her
URGENCY_FOR_HER: Words = {
    "emergency": _l("Emergency — needs help today"),
    "urgent": _l("Urgent — within a day or two"),
    "routine": _l("Routine"),
}
# chosen for a bundle: the deadlines it sets the receivers (`referrals/deadlines.py`)
URGENCY_DEADLINES: Words = {
    "emergency": _l("Emergency — answer within 30 minutes, arrive within 3 hours"),
    "urgent": _l("Urgent — answer within 4 hours, arrive within 24 hours"),
    "routine": _l("Routine — answer within 3 business days"),
}
# how her consent was given (`consent/service.METHODS`, `SIGNERS`)
SIGNING_METHOD: Words = {
    "written": _l("Signed on paper"),
    "electronic": _l("Signed electronically"),
    "verbal_attested": _l("Agreed aloud (I attest to it)"),
}
SIGNER: Words = {
    "survivor": _l("The survivor herself"),
    "representative": _l("A representative (parent, guardian, ...)"),
}
# the lists' "whose" filter (`referrals/schemas.MineArgs`): everyone's when not chosen
WHOSE: Words = {
    "me": _l("Mine"),
    "none": _l("Nobody's yet"),
}

# --- the audit trail and the timelines ----------------------------------------------------

# an audit event's action, on a referral's timeline and the coordinators' audit page
EVENT: Words = {
    "referral.created": _l("Referral drafted"),
    "referral.sent": _l("Referral sent"),
    "referral.acknowledged": _l("Acknowledged (looking at it)"),
    "referral.info_requested": _l("Asked the sender for more information"),
    "referral.waitlisted": _l("Put on the waiting list"),
    "referral.accepted": _l("Accepted: a place is held for her"),
    "referral.engaged": _l("Arrival confirmed"),
    "referral.completed": _l("Completed"),
    "referral.not_completed": _l("Ended unfinished"),
    "referral.declined": _l("Declined"),
    "referral.withdrawn": _l("Withdrawn by the sending agency"),
    "referral.expired": _l("Expired: nobody answered in time"),
    "referral.superseded": _l("Closed: another agency accepted first"),
    "referral.entered_in_error": _l("Marked as entered in error"),
    "referral.message_sent": _l("Message sent"),
    "referral.messages_read": _l("Messages read"),
    "referral.reminded": _l("Reminder sent to the receiving agency"),
    "referral.escalated": _l("Escalated to coordinators"),
    "referral.receiver_nudged": _l("A coordinator nudged the receiving agency"),
    "referral.sender_nudged": _l("A coordinator asked the sending agency to act"),
    "referral.assigned": _l("Caseworker changed"),
    "referral.assignee_reminded": _l("Caseworker reminded"),
    "referral.hold_extended": _l("Hold extended"),
    "referral.access_ended": _l("Her consent ended: they no longer see her details"),
    "referral.outside_access_ended": _l(
        "Her consent ended: the letter and the link no longer show her details"
    ),
    "client.pii_viewed": _l("Her details were viewed"),
    "client.created": _l("Client record created"),
    "client.disclosures_viewed": _l("Disclosure report viewed"),
    "consent.recorded": _l("Consent recorded"),
    "consent.revoked": _l("Consent withdrawn"),
    "audit.verified": _l("Audit chain verified"),
    "audit.events_read": _l("Audit trail searched"),
    "report.viewed": _l("Report viewed"),
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in failed"),
    "access.denied": _l("Access refused"),
}

# whose caseworker a handover (`referral.assigned`) changed, as the sending side reads it
HANDOVER_SIDE: Words = {
    "sender": _l("Your caseworker changed"),
    "receiver": _l("Their caseworker changed"),
}

# --- coordinators -------------------------------------------------------------------------

# the network dashboard's groups of referral states (`reports/series.STATUS_GROUPS`)
STATUS_GROUP: Words = {
    "waiting": _l("Waiting for an answer"),
    "placed": _l("Accepted or arrived"),
    "completed": _l("Completed"),
    "declined": _l("Declined"),
    "expired": _l("Expired"),
    "ended_otherwise": _l("Withdrawn, superseded or unfinished"),
}
# why a referral is in limbo (`reports/limbo.WHY`)
LIMBO_REASON: Words = {
    "unacknowledged": _l("not acknowledged: nobody has opened it in time"),
    "decision_overdue": _l("no decision in time"),
    "question_unanswered": _l("they asked the sender a question, still unanswered"),
    "waitlist_overdue": _l("on a waiting list past the decision deadline"),
    "arrival_overdue": _l("accepted, but her arrival is not confirmed and the hold is ending"),
    "too_many_hops": _l("sent on too many times"),
    "nothing_open": _l("nothing open for this need: it has to be referred again"),
}
# a coordinator's nudge button, by (side, what that side owes) (`reports/nudges.py`);
# `{name}` is the agency's name, filled in by the page
NUDGE: dict[tuple[str, str], LazyProxy] = {
    ("receiver", "acknowledge"): _l("Nudge {name} to acknowledge"),
    ("receiver", "decide"): _l("Nudge {name} to decide"),
    ("receiver", "arrive"): _l("Nudge {name} to confirm her arrival"),
    ("sender", "provide"): _l("Ask {name} to answer the question"),
    ("sender", "refer"): _l("Ask {name} to refer her elsewhere"),
    ("sender", "check"): _l("Ask {name} to check she is on her way"),
}

# how an audited act ended (`audit` events' outcome)
AUDIT_OUTCOME: Words = {
    "success": _l("Succeeded"),
    "denied": _l("Refused"),
    "failure": _l("Failed"),
}

# --- administration -----------------------------------------------------------------------

SERVICE_STATUS: Words = {
    "active": _l("Active"),
    "inactive": _l("Inactive"),
    "temporarily_closed": _l("Temporarily closed"),
    "defunct": _l("Defunct"),
}
# what a service's capacity is counted in (`directory/vocabulary.Unit`)
UNIT: Words = {
    "bed": _l("Beds"),
    "slot": _l("Slots"),
    "appointment": _l("Appointments"),
}

ROLE: Words = {
    "intake": _l("Intake worker (finds services, sends referrals)"),
    "provider": _l("Provider (receives referrals, keeps capacity up to date)"),
    "coordinator": _l("Network coordinator (oversees every agency's referrals)"),
    "agency_admin": _l("Agency administrator (staff, systems, services)"),
    "hub_admin": _l("Hub administrator (every agency)"),
}
ROLE_SHORT: Words = {
    "intake": _l("Intake"),
    "provider": _l("Provider"),
    "coordinator": _l("Coordinator"),
    "agency_admin": _l("Agency admin"),
    "hub_admin": _l("Hub admin"),
}
SCOPE: Words = {
    "directory:read": _l("Read the service directory and capacity"),
    "capacity:write": _l("Update this agency's capacity numbers"),
    "clients:write": _l("Create and update client records (with consent)"),
    "clients:read": _l("Read client records this agency may see"),
    "referrals:read": _l("Read this agency's referrals"),
    "referrals:write": _l("Send and answer referrals"),
    "audit:read": _l("Read the hub's audit trail (hub administrators only)"),
    "admin": _l("Administer this agency (staff, services, webhooks)"),
}
# one webhook delivery (the outbox row's status)
DELIVERY_STATUS: Words = {
    "pending": _l("Waiting to be sent"),
    "delivered": _l("Delivered"),
    "dead": _l("Gave up"),
}
