"""The meaning of `require(...)`, pinned: roles for staff, scopes for agency systems."""

from __future__ import annotations

import uuid

import pytest

from referral_hub.core.actor import ANONYMOUS, Actor, ActorKind
from referral_hub.core.authz import check, scopes_satisfied
from referral_hub.core.errors import Forbidden, Unauthorized


@pytest.mark.parametrize(
    ("granted", "required", "passes"),
    [
        ({"a", "b"}, "a b", True),  # a string: every scope in it
        ({"a"}, "a b", False),
        ({"b"}, ["a", "b"], True),  # a list: any one of its strings
        ({"c"}, ["a", "b"], False),
        ({"b", "c"}, ["a", "b c"], True),  # a OR (b AND c)
        ({"b"}, ["a", "b c"], False),
        (set(), "", True),  # the empty string: any token
        ({"a"}, [], False),  # an empty list: nothing passes
    ],
)
def test_scope_expressions(granted: set[str], required: str | list[str], passes: bool) -> None:
    assert scopes_satisfied(frozenset(granted), required) is passes


AGENCY = uuid.uuid4()
INTAKE = Actor(ActorKind.USER, "u", AGENCY, frozenset({"intake"}))
ADMIN = Actor(ActorKind.USER, "a", AGENCY, frozenset({"agency_admin"}))
SYSTEM_WITH_ADMIN = Actor(ActorKind.CLIENT, "c", AGENCY, scopes=frozenset({"admin"}))


def test_staff_are_judged_by_role_and_systems_by_scope() -> None:
    check(ADMIN, ("agency_admin", "hub_admin"), "admin")
    check(SYSTEM_WITH_ADMIN, ("agency_admin",), "admin")  # a system has no roles
    check(INTAKE, (), None)  # no roles named: any staff member
    with pytest.raises(Forbidden):
        check(INTAKE, ("agency_admin",), "admin")  # intake staff lack the role
    with pytest.raises(Forbidden):
        check(SYSTEM_WITH_ADMIN, ("agency_admin",), None)  # staff-only endpoint
    with pytest.raises(Forbidden):
        check(SYSTEM_WITH_ADMIN, (), "directory:read")
    with pytest.raises(Unauthorized):
        check(ANONYMOUS, (), "")
