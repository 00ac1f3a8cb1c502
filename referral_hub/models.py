"""Imports every model module, so the metadata (and Alembic) sees all tables."""

from referral_hub.agencies import models as agencies  # noqa: F401
from referral_hub.audit import models as audit  # noqa: F401
from referral_hub.auth import models as auth  # noqa: F401
from referral_hub.clients import models as clients  # noqa: F401
from referral_hub.consent import models as consent  # noqa: F401
from referral_hub.core import idempotency  # noqa: F401
from referral_hub.directory import models as directory  # noqa: F401
from referral_hub.jobs import models as jobs  # noqa: F401
from referral_hub.notifications import models as notifications  # noqa: F401
from referral_hub.referrals import models as referrals  # noqa: F401
from referral_hub.survivor import models as survivor  # noqa: F401
