"""Extensions, created unbound; create_app() binds them to an application."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from referral_hub.core.db import Base
from referral_hub.core.http import HubApi

# create_savepoint: inside the test suite's outer transaction, app commits become
# savepoint releases; with a plain engine (production) it changes nothing.
# pool_pre_ping (every engine, the keystore's too): a pooled connection that died with a
# database restart is replaced on checkout, so the first requests after it succeed.
db = SQLAlchemy(
    model_class=Base,
    engine_options={"pool_pre_ping": True},
    session_options={"join_transaction_mode": "create_savepoint"},
)
migrate = Migrate(render_as_batch=True, compare_type=True)
api = HubApi()
csrf = CSRFProtect()
