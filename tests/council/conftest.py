"""Fixtures of the council's tests: a migrated runtime with the organisation loaded, the Flask
test client, real bearer tokens, and helpers to drive a round through its handshake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from services.council import DECLARATION, services
from services.council.app import build_runtime, create_app
from shared import clock
from shared.auth import new_token, store_token
from shared.clock import Month
from shared.config import Settings
from shared.db import utcnow
from shared.ids import new_id
from shared.messages import IntroductionsClosed, Message, envelope
from shared.outbox import consume
from shared.runtime import Runtime
from shared.tables import outbox

UNIT = "CATP-GN"
COUNCIL = "HD-CATP-GN"
SECRETARY = "CATP-GN-0008"
MEMBERS = [f"CATP-GN-000{i}" for i in range(1, 8)]
PROVINCE = "CAT"
PROVINCIAL = "HD-CAT"
PROVINCE_SECRETARY = "CAT-0012"
PROVINCIAL_MEMBERS = [f"CAT-{i:04d}" for i in range(1, 12)]
# Officers of CATP-GN in sub-units (not council members).
AUTHORS = ["CATP-GN-0010", "CATP-GN-0011", "CATP-GN-0013", "CATP-GN-0014", "CATP-GN-0018", "CATP-GN-0020"]


def this_month() -> str:
    return str(Month.of(clock.today()))


def make_runtime(settings: Settings, org_document: dict) -> Runtime:
    runtime = build_runtime(settings)
    runtime.migrate()
    DECLARATION.load_org(runtime, org_document)
    return runtime


@pytest.fixture
def runtime(sqlite_settings: Settings, org_document: dict) -> Iterator[Runtime]:
    rt = make_runtime(sqlite_settings, org_document)
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


def issue(runtime: Runtime, role: str, subject: str) -> dict[str, str]:
    token = new_token()
    with runtime.db.unit_of_work() as uow:
        store_token(uow, token, role, subject, 30)
        uow.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(runtime: Runtime) -> Callable[[str, str], dict[str, str]]:
    """``auth(role, subject)`` → headers with a real bearer token stored in the council's database."""
    return lambda role, subject: issue(runtime, role, subject)


@pytest.fixture
def secretary(auth: Callable) -> dict[str, str]:
    return auth("unit_secretary", SECRETARY)


@pytest.fixture
def members(auth: Callable) -> dict[str, dict[str, str]]:
    return {m: auth("council_member", m) for m in MEMBERS}


def deed_copy(author: dict[str, str] | None = None, unit: str = UNIT, month: str | None = None,
              title: str = "Giúp dân vượt lũ") -> dict[str, Any]:
    """A frozen public copy of a deed as intake sends it (DeedCopySchema)."""
    month = month or this_month()
    author = author or {"officer": AUTHORS[0], "name": "Trung uý Lê Thị An"}
    return {
        "id": new_id(), "title": title, "description": "Đưa bà con ra khỏi vùng ngập an toàn.",
        "kind": "good_deed", "relation": "direct", "occurred_on": f"{month}-01", "month": month,
        "place": None, "author": author, "unit": unit, "subunit": None, "evidence": [],
    }


def deliver(runtime: Runtime, msg: Message, handle: Callable | None = None, env: dict | None = None) -> bool:
    """Feed one message to the council as its worker would (inbox de-dup included)."""
    env = env or envelope(msg, clock.isoformat(utcnow()))
    handle = handle or (lambda uow, m: services.introductions_closed(uow, runtime.context(uow), m))
    return consume(runtime.db, env, handle)


def deliver_dossiers(runtime: Runtime) -> int:
    """Hand every dossier a quarterly round sent to the provincial council, as its worker would."""
    delivered = 0
    for env in outbox_messages(runtime, "council.dossier_sent"):
        delivered += consume(runtime.db, env, services.dossier_sent)
    return delivered


def outbox_messages(runtime: Runtime, type_: str | None = None) -> list[dict[str, Any]]:
    with runtime.db.reading() as s:
        query = sa.select(outbox.c.envelope).order_by(outbox.c.id)
        if type_:
            query = query.where(outbox.c.type == type_)
        return list(s.execute(query).scalars())


def open_monthly(client: FlaskClient, headers: dict[str, str], runtime: Runtime, deeds: list[dict[str, Any]],
                 period: str | None = None, closes_at: str | None = None, council: str = COUNCIL,
                 unit: str = UNIT, recorded: int | None = None) -> dict[str, Any]:
    """POST a monthly round, then answer its CloseIntroductions as intake would."""
    body: dict[str, Any] = {"council": council, "kind": "monthly", "period": period or this_month()}
    if closes_at:
        body["closes_at"] = closes_at
    resp = client.post("/api/v1/rounds", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    rnd = resp.get_json()
    deliver(runtime, IntroductionsClosed(
        round_id=rnd["id"], unit=unit, month=rnd["period"],
        recorded=len(deeds) if recorded is None else recorded, deeds=deeds,
    ))
    return client.get(f"/api/v1/rounds/{rnd['id']}", headers=headers).get_json()


def vote(client: FlaskClient, round_: dict[str, Any], headers: dict[str, str], choice: str | dict[str, str]) -> Any:
    """Cast one ballot: the same choice on every candidate, or a mapping."""
    if isinstance(choice, str):
        choices = {c["id"]: choice for c in round_["candidates"]}
    else:
        choices = choice
    return client.post(f"/api/v1/rounds/{round_['id']}/ballots", json={"choices": choices}, headers=headers)


def in_future(**delta: float) -> str:
    return clock.isoformat(utcnow() + dt.timedelta(**delta))
