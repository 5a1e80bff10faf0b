"""Fixtures of intake's tests: a migrated runtime with the organisation loaded, its Flask app,
real bearer tokens, and the people of one unit (Công an huyện Đắk Mil) and of another."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.intake import DECLARATION
from services.intake.app import build_runtime, create_app
from shared.auth import new_token, store_token
from shared.clock import TZ
from shared.config import Settings
from shared.runtime import Runtime

UNIT = "CAH-DM"
OTHER_UNIT = "CAH-CJ"


@dataclass(frozen=True)
class People:
    unit: str
    secretary: str
    subunit: str
    lead: str
    officer: str  # a plain officer of ``subunit``
    colleague: str  # another plain officer of ``subunit``
    other_subunit: str
    other_lead: str
    other_officer: str  # a plain officer of ``other_subunit``
    direct: str  # an officer directly under the unit (a council member)
    council: str
    member: str
    other_unit: str
    stranger: str  # a plain officer of ``other_unit``
    stranger_secretary: str
    province_secretary: str
    province_officer: str
    press: str


def people_of(doc: dict[str, Any], unit_code: str = UNIT, other_code: str = OTHER_UNIT) -> People:
    def plain(unit: dict[str, Any], sub: dict[str, Any]) -> list[str]:
        busy = {*unit["council"]["members"], unit["secretary"], *(s["lead"] for s in unit["subunits"])}
        return [o["code"] for o in doc["officers"] if o.get("subunit") == sub["code"] and o["code"] not in busy]

    unit = next(u for u in doc["units"] if u["code"] == unit_code)
    other = next(u for u in doc["units"] if u["code"] == other_code)
    subs = [s for s in unit["subunits"] if len(plain(unit, s)) >= 2]
    sub, sub2 = subs[0], subs[1]
    other_sub = next(s for s in other["subunits"] if plain(other, s))
    members = unit["council"]["members"]
    prov = doc["province"]
    return People(
        unit=unit_code,
        secretary=unit["secretary"],
        subunit=sub["code"],
        lead=sub["lead"],
        officer=plain(unit, sub)[0],
        colleague=plain(unit, sub)[1],
        other_subunit=sub2["code"],
        other_lead=sub2["lead"],
        other_officer=plain(unit, sub2)[0],
        direct=members[0],
        council=unit["council"]["code"],
        member=members[1],
        other_unit=other_code,
        stranger=plain(other, other_sub)[0],
        stranger_secretary=other["secretary"],
        province_secretary=prov["secretary"],
        province_officer=prov["council"]["members"][0],
        press=prov["press"],
    )


@pytest.fixture
def runtime(sqlite_settings: Settings, org_document: dict) -> Runtime:
    rt = build_runtime(sqlite_settings)
    rt.migrate()
    DECLARATION.load_org(rt, org_document)
    yield rt
    rt.db.dispose()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    # No broker in these tests: no relay to wake after a commit.
    runtime.db.after_commit.clear()
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def people(org_document: dict) -> People:
    return people_of(org_document)


@pytest.fixture
def token(runtime: Runtime) -> Callable[[str, str], str]:
    """``token(role, subject)``: a real bearer token stored hashed, as ``sovang token issue`` does."""
    issued: dict[tuple[str, str], str] = {}

    def issue(role: str, subject: str) -> str:
        if (role, subject) not in issued:
            tok = new_token()
            with runtime.db.unit_of_work() as uow:
                store_token(uow, tok, role, subject, 30)
                uow.commit()
            issued[(role, subject)] = tok
        return issued[(role, subject)]

    return issue


def auth(tok: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}", **extra}


def today() -> dt.date:
    return dt.datetime.now(TZ).date()


def deed_body(author: dict[str, str], **changes: Any) -> dict[str, Any]:
    body = {
        "author": author,
        "occurred_on": today().isoformat(),
        "kind": "good_deed",
        "relation": "direct",
        "title": "Giúp cụ bà qua đường",
        "description": "Đồng chí dắt cụ bà qua ngã tư đông xe lúc tan tầm.",
        "place": "Thị trấn Đắk Mil",
        "beneficiaries": "Cụ bà Nguyễn Thị H'Lan",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def record(client: FlaskClient, token: Callable[[str, str], str], people: People) -> Callable[..., dict]:
    """Record a deed through the API (officer by default) and return the answered Deed."""

    def do(author: dict[str, str] | None = None, role: str = "officer", subject: str | None = None,
           **changes: Any) -> dict:
        author = author or {"officer": people.officer}
        subject = subject or author.get("officer") or people.secretary
        r = client.post("/api/v1/deeds", json=deed_body(author, **changes), headers=auth(token(role, subject)))
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()

    return do


def multipart(parts: dict[str, tuple[bytes, str] | str]) -> dict[str, Any]:
    """A multipart/form-data body built by hand (werkzeug's test client leaves the temporary
    file of a large one open): ``{"file": (content, filename), "note": "text"}``."""
    boundary = "sovang-test-boundary-7f3a"
    out = b""
    for name, value in parts.items():
        if isinstance(value, tuple):
            content, filename = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
        else:
            content, head = value.encode(), f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        out += f"--{boundary}\r\n".encode() + head.encode() + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return {"data": out, "content_type": f"multipart/form-data; boundary={boundary}"}
