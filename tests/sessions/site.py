"""Helpers of the sign-in tests (R24): the three services behind the embedded dispatcher, the
organisation loaded, and passwords set for a few people of Đắk Mil."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder

from services import REGISTRY
from services.intake import people
from shared.config import Settings
from sovang.cli import _runtimes
from sovang.gateway import Gateway, create_gateway

PASSWORD = "mật-khẩu-đủ-dài-1"
OFFICER = "CAH-DM-0010"        # an officer of Đắk Mil
LEAD = "CAH-DM-0009"           # leads OFFICER's sub-unit
SECRETARY = "CAH-DM-0008"      # the unit's secretary
MEMBER = "CAH-DM-0001"         # sits on the unit council
PROVINCE_SECRETARY = "CAT-0012"


class AddressedClient(Client):
    """A browser at one address (the sign-in limits count per address, R24)."""

    def __init__(self, app: Any, address: str) -> None:
        super().__init__(app)
        self.address = address

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], EnvironBuilder):  # a redirect being followed
            args[0].environ_overrides = {**(args[0].environ_overrides or {}), "REMOTE_ADDR": self.address}
        else:
            kwargs.setdefault("environ_overrides", {}).setdefault("REMOTE_ADDR", self.address)
        return super().open(*args, **kwargs)


@dataclass
class Site:
    settings: Settings
    runtimes: dict[str, Any]
    gateway: Gateway

    def client(self, address: str = "10.0.0.1") -> Client:
        return AddressedClient(self.gateway, address)

    def close(self) -> None:
        """Give back every connection: the runtimes that loaded the organisation and the
        gateway's own."""
        for rt in self.runtimes.values():
            rt.db.dispose()
        self.gateway.close()

    def sign_in(self, subject: str, password: str = PASSWORD, address: str = "10.0.0.1") -> Client:
        c = self.client(address)
        resp = c.post("/api/v1/session", json={"subject": subject, "password": password})
        assert resp.status_code == 204, resp.get_data(as_text=True)
        return c

    def sign_in_page(self, subject: str, password: str = PASSWORD, address: str = "10.0.0.1") -> Client:
        """Signed in as a person does: the form of ``/``."""
        c = self.client(address)
        resp = c.post("/", data={"subject": subject, "password": password, "next": ""})
        assert resp.status_code == 303, resp.get_data(as_text=True)
        return c


PEOPLE = (OFFICER, LEAD, SECRETARY, MEMBER, PROVINCE_SECRETARY)

# The tests of the main forms (record a deed, introduce, open and close a round, a ballot) run on
# SQLite and on PostgreSQL, the production database: ``@pytest.mark.parametrize("site", BACKENDS,
# indirect=True)``; the others on SQLite alone.
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.distributed))


def site_settings(request: pytest.FixtureRequest, sqlite: Settings) -> Settings:
    """The settings of a ``site`` fixture: ``sqlite``, or PostgreSQL and Redis when the test is
    parametrized with BACKENDS' "postgresql" (skipped when they do not answer)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("pg_settings")
    return sqlite


def make_site(settings: Settings, org_document: dict, subjects: tuple[str, ...] = PEOPLE) -> Site:
    runtimes = _runtimes(settings)
    for name, rt in runtimes.items():
        REGISTRY[name].load_org(rt, org_document)
        rt.db.after_commit.clear()
    for subject in subjects:
        runtimes["intake"].run(people.set_password, "test", subject, PASSWORD)
    return Site(settings, runtimes, create_gateway(settings))
