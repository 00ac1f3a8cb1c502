"""The client (survivor) record. PII lives only in sealed columns, one per data category.

`profile` holds non-identifying needs (age range, gender, language, household,
accessibility, urgency) and may travel with a referral without consent; every other
category is sealed under the client's own data key (see core.envelope).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from referral_hub.core import clock
from referral_hub.core.db import Base, UUIDPrimaryKey


class Client(UUIDPrimaryKey, Base):
    __tablename__ = "client"

    reference: Mapped[str] = mapped_column(String(40), unique=True)
    owner_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="RESTRICT"), index=True
    )
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    do_not_refer: Mapped[list[str]] = mapped_column(JSON, default=list)  # agency ids
    erased_at: Mapped[datetime | None]  # her key destroyed; only the reference remains
    identity: Mapped[bytes | None]
    contact: Mapped[bytes | None]
    narrative: Mapped[bytes | None]
    immigration: Mapped[bytes | None]
    health: Mapped[bytes | None]
    justice: Mapped[bytes | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.reference}>"
