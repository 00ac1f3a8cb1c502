"""Code systems and the state mapping between hub referrals and SDOHCC Tasks. Pure: no database.

The hub's own vocabularies travel in code systems of its own (`HUB`), beside the guide's fixed
codes, so a referral's exact state is never lost in the coarser FHIR Task status.
"""

from __future__ import annotations

from dataclasses import dataclass

from referral_hub.referrals.states import State

HUB = "https://referral-hub.example/fhir/CodeSystem"
REFERRAL_STATE = f"{HUB}/referral-state"
DECLINE_REASON = f"{HUB}/decline-reason"
OUTCOME = f"{HUB}/outcome"
SERVICE_CATEGORY = f"{HUB}/service-category"
DATA_CATEGORY = f"{HUB}/data-category"
CAPACITY_UNIT = f"{HUB}/capacity-unit"

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
SDOHCC_TEMP = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
SNOMED = "http://snomed.info/sct"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

PROFILE_BASE = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition"
TASK_PROFILE = f"{PROFILE_BASE}/SDOHCC-TaskForReferralManagement"
SERVICE_REQUEST_PROFILE = f"{PROFILE_BASE}/SDOHCC-ServiceRequest"
CONSENT_PROFILE = f"{PROFILE_BASE}/SDOHCC-Consent"
HEALTHCARE_SERVICE_PROFILE = f"{PROFILE_BASE}/SDOHCC-HealthcareServiceForReferralManagement"
CAPACITY_EXTENSION = f"{PROFILE_BASE}/SDOHCC-ExtensionHealthcareServiceCapacityStatus"


@dataclass(frozen=True)
class TaskStatus:
    """How one hub state reads as a Task: its status, and the reason text when the guide
    asks for one (rejected, cancelled, on-hold, failed)."""

    status: str
    reason: str | None = None


# the guide's Task status page: requested -> received -> accepted -> in-progress -> completed,
# with rejected, cancelled, on-hold and failed on the way; businessStatus keeps the hub state
TASK_STATUS: dict[State, TaskStatus] = {
    State.DRAFT: TaskStatus("draft"),
    State.SENT: TaskStatus("requested"),
    State.ACKNOWLEDGED: TaskStatus("received"),
    State.INFO_REQUESTED: TaskStatus("on-hold", "The receiver asked the sender for information."),
    State.WAITLISTED: TaskStatus("on-hold", "Waitlisted by the receiver."),
    State.ACCEPTED: TaskStatus("accepted"),
    State.ENGAGED: TaskStatus("in-progress"),
    State.COMPLETED: TaskStatus("completed"),
    State.NOT_COMPLETED: TaskStatus("failed", "Ended without completion."),
    State.DECLINED: TaskStatus("rejected", "Declined by the receiver."),
    State.WITHDRAWN: TaskStatus("cancelled", "Withdrawn by the sender."),
    State.EXPIRED: TaskStatus("cancelled", "Expired: not answered before its deadline."),
    State.SUPERSEDED: TaskStatus("cancelled", "Superseded: another service accepted this need."),
    State.ENTERED_IN_ERROR: TaskStatus("entered-in-error"),
}

# the status a Task update asks for -> the hub move that makes it (from the states shown)
MOVE_FOR_STATUS: dict[str, str] = {
    "received": "acknowledge",
    "accepted": "accept",
    "rejected": "decline",
    "in-progress": "confirm-arrival",
    "completed": "complete",
    "failed": "end-unfinished",
    "cancelled": "withdraw",
    "entered-in-error": "mark-error",
}

# FHIR request priority -> hub urgency, and back
URGENCY_FOR_PRIORITY = {
    "routine": "routine",
    "urgent": "urgent",
    "asap": "emergency",
    "stat": "emergency",
}
PRIORITY_FOR_URGENCY = {"routine": "routine", "urgent": "urgent", "emergency": "asap"}


def moves_for(current: State, wanted: str) -> list[str]:
    """The hub moves a Task status update stands for, from the referral's current state.

    Completing a referral that was accepted but never marked as begun passes through the
    arrival the guide's Task has no status for (accepted -> in-progress -> completed).
    """
    move = MOVE_FOR_STATUS.get(wanted)
    if move is None:
        return []
    if wanted == "completed" and current == State.ACCEPTED:
        return ["confirm-arrival", "complete"]
    return [move]
