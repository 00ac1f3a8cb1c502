"""What every staff page relies on: forms onto the API schemas, error pages, menus by role."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from referral_hub.consent.schemas import ConsentCreateArgs
from referral_hub.core.db import transaction
from referral_hub.core.settings import ConfigurationError
from referral_hub.referrals.schemas import TransitionArgs
from referral_hub.web import forms
from tests import factories


def test_shape_types_form_strings_by_the_schemas_own_fields(app: Any) -> None:
    posted = MultiDict(
        [
            ("recipients", "3f1c1d9e-2b1a-4c55-9a77-0e6f3f0b8a11"),
            ("recipients", "   "),
            ("purposes.present", "1"),
            ("data_categories", "profile"),
            ("data_categories", "contact"),
            ("method", " written "),
            ("signed_at", "2026-11-22T09:30"),
            ("expires_at", "2027-02-20"),
        ]
    )
    with app.test_request_context():
        data = forms.shape(ConsentCreateArgs(), posted)
    assert data["recipients"] == ["3f1c1d9e-2b1a-4c55-9a77-0e6f3f0b8a11"]
    assert data["purposes"] == []  # an all-unticked list is sent as empty, not missing
    assert data["data_categories"] == ["profile", "contact"]
    assert data["method"] == "written"
    assert data["signed_at"] == "2026-11-22T09:30:00+00:00"  # read in DISPLAY_TIMEZONE (UTC)
    assert data["expires_at"] == "2027-02-20T23:59:00+00:00"  # a date means the end of it
    assert "signer" not in data  # blanks are left for the schema to call missing


def test_integers_are_cast_and_bad_ones_left_for_the_schema_to_name(app: Any) -> None:
    with app.test_request_context():
        good = forms.load(TransitionArgs(), MultiDict({"position": "4"}))
        assert good == {"position": 4}
        with pytest.raises(ValidationError) as refused:
            forms.load(TransitionArgs(), MultiDict({"position": "fourth"}))
    assert "position" in refused.value.messages


def test_nested_errors_flatten_to_the_forms_dotted_names() -> None:
    errors = forms.flatten(
        {"profile": {"age": ["Too old."]}, "needs": {0: {"service_ids": ["Pick one."]}}}
    )
    assert errors.first("profile.age") == "Too old."
    assert errors.first("needs.0.service_ids") == "Pick one."
    assert errors.first("nothing") is None


def test_display_zone_is_used_for_typed_times(app: Any) -> None:
    app.config["DISPLAY_TIMEZONE"] = "America/Chicago"
    try:
        with app.test_request_context():
            assert forms.local_to_iso("2026-07-01T08:00") == "2026-07-01T08:00:00-05:00"
            assert forms.local_to_iso("not a time") == "not a time"
    finally:
        app.config["DISPLAY_TIMEZONE"] = "UTC"


def test_an_unknown_display_zone_stops_the_start() -> None:
    from referral_hub import create_app

    with pytest.raises(ConfigurationError, match="DISPLAY_TIMEZONE"):
        create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "DISPLAY_TIMEZONE": "Mars/Olympus",
            }
        )


@pytest.fixture
def staff(session: Any) -> dict[str, Any]:
    with transaction():
        shelter = factories.agency(name="Foundation Shelter")
        return {
            "intake": factories.with_password(factories.user(shelter, roles=["intake"])),
            "provider": factories.with_password(factories.user(shelter, roles=["provider"])),
        }


def test_anonymous_visitors_are_sent_to_sign_in_and_back(client: Any) -> None:
    response = client.get("/intake/search?category=legal_advocacy")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "intake/search" in response.headers["Location"]


def test_the_wrong_role_gets_a_page_not_json(client: Any, staff: dict[str, Any]) -> None:
    factories.sign_in(client, staff["provider"])
    response = client.get("/intake/")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "This page is for intake." in page
    assert 'id="main"' in page


def test_staff_land_on_their_own_work_and_see_only_their_menu(
    client: Any, staff: dict[str, Any]
) -> None:
    factories.sign_in(client, staff["provider"])
    assert client.get("/").headers["Location"] == "/provider/"
    page = client.get("/provider/").get_data(as_text=True)
    assert 'href="/provider/capacity"' in page
    assert 'href="/intake/"' not in page
    assert 'aria-current="page"' in page


def test_pages_keep_no_htmx_history_snapshots(client: Any, staff: dict[str, Any]) -> None:
    """htmx would otherwise copy whole pages, survivor data included, into localStorage."""
    factories.sign_in(client, staff["intake"])
    page = client.get("/intake/").get_data(as_text=True)
    assert '"historyCacheSize": 0' in page
    assert 'hx-boost="true"' in page


def test_a_refused_page_is_on_the_record(client: Any, staff: dict[str, Any]) -> None:
    from sqlalchemy import select

    from referral_hub.audit.models import AuditEvent
    from referral_hub.extensions import db

    factories.sign_in(client, staff["provider"])
    assert client.get("/network/").status_code == 403
    denied = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access.denied")
    ).all()
    assert [event.details["reason"] for event in denied] == ["forbidden"]
    assert denied[0].details["endpoint"] == "coordinator.dashboard"


def test_a_poll_after_the_session_ended_moves_the_whole_page_to_sign_in(client: Any) -> None:
    response = client.get(
        "/provider/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/provider/?status=sent"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login?next=/provider/?status%3Dsent"
    assert response.get_data(as_text=True) == ""
