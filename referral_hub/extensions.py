"""Extensions, created unbound; create_app() binds them to an application."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from referral_hub.core.db import Base
from referral_hub.core.http import HubApi
from referral_hub.core.liveness import RECYCLE_SECONDS

# create_savepoint: inside the test suite's outer transaction, app commits become
# savepoint releases; with a plain engine (production) it changes nothing.
# no pool_pre_ping (a round trip on every checkout): a pooled PostgreSQL connection that
# died with a database restart is seen on checkout without one and replaced, so the first
# requests after it succeed (core/liveness.py); pool_recycle (every engine, the keystore's
# too) retires connections before idle timeouts can drop them unseen.
db = SQLAlchemy(
    model_class=Base,
    engine_options={"pool_recycle": RECYCLE_SECONDS},
    session_options={"join_transaction_mode": "create_savepoint"},
)
migrate = Migrate(render_as_batch=True, compare_type=True)
api = HubApi()
csrf = CSRFProtect()
