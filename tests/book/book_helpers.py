"""Helpers of the book service's tests: the organisation's people, Inscribe commands as council
sends them, and delivery through the inbox as the worker does it."""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa

from services.book import DECLARATION, services
from services.book.app import build_runtime, context
from services.book.domain.entries import Entry
from shared import clock
from shared.config import Settings
from shared.db import utcnow
from shared.ids import new_id
from shared.messages import Inscribe, RepublishPages, envelope
from shared.outbox import consume
from shared.runtime import Runtime
from shared.tables import inbox, outbox

UNIT = "CAH-DM"
UNIT_SECRETARY = "CAH-DM-0008"
OTHER_SECRETARY = "CAH-CJ-0008"
PROVINCE = "CAT"
PROVINCE_SECRETARY = "CAT-0012"
AUTHOR = "CAH-DM-0001"  # Thiếu tá Phan Thành Ngân

_sources = itertools.count(1)


def make_runtime(settings: Settings, org_document: dict) -> Runtime:
    runtime = build_runtime(settings)
    runtime.migrate()
    assert DECLARATION.load_org(runtime, org_document) is True
    return runtime


def revoke(runtime: Runtime, actor: Any, code: str, seq: int, reason: str) -> Entry:
    """R15a as the API revokes: the book checked and locked, then the revocation, committed once."""
    return runtime.run(lambda uow, ctx: services.revoke(uow, ctx, actor, services.revocable(uow, ctx, actor, code),
                                                        seq, reason))


def deed_copy(
    title: str = "Cứu hai em nhỏ đuối nước ở hồ Tây, xã Đức Minh",
    *,
    unit: str = UNIT,
    author: dict[str, str] | None = None,
    description: str = "Trên đường tuần tra, đồng chí đã nhảy xuống hồ cứu hai em nhỏ bị đuối nước.",
    occurred_on: str = "2024-05-02",
    deed_id: str | None = None,
) -> dict[str, Any]:
    """A deed's frozen copy as it crosses services (DeedCopySchema)."""
    return {
        "id": deed_id or new_id(),
        "title": title,
        "description": description,
        "kind": "good_deed",
        "relation": "direct",
        "occurred_on": occurred_on,
        "month": occurred_on[:7],
        "place": "xã Đức Minh",
        "author": author or {"officer": AUTHOR, "name": "Thiếu tá Phan Thành Ngân"},
        "unit": unit,
        "subunit": None,
        "evidence": [],
    }


def inscribe_command(
    book: str = UNIT, *, deed: dict[str, Any] | None = None, source: str | None = None, period: str = "2024-05",
    round_kind: str = "monthly",
) -> Inscribe:
    deed = deed or deed_copy(unit=book if book != PROVINCE else UNIT)
    round_id = new_id()
    return Inscribe(
        book=book,
        source=source or f"{round_id}:{next(_sources)}",
        deed=deed,
        decision={"number": "3/QĐ-CAH-DM", "date": "2024-06-07", "issuer": book, "issuer_name": "Công an huyện Đắk Mil"},
        tally={
            "approve": 6, "reject": 1, "abstain": 0, "entitled": 7, "ratio": "6/7", "round": round_id,
            "round_kind": round_kind, "period": period,
        },
    )


def deliver(runtime: Runtime, msg: Inscribe, env: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deliver the command as the worker does (inbox, then the use case); returns its envelope."""
    env = env or envelope(msg, clock.isoformat(utcnow()))
    consume(runtime.db, env, lambda uow, m: services.inscribe(uow, context(runtime, uow), m))
    return env


def pages_pending(runtime: Runtime) -> list[dict[str, Any]]:
    """The envelopes of the ``RepublishPages`` messages in the outbox no consumer has handled."""
    with runtime.db.reading() as s:
        done = set(s.execute(sa.select(inbox.c.message_id)).scalars())
        rows = s.execute(
            sa.select(outbox.c.envelope).where(outbox.c.type == RepublishPages.TYPE).order_by(outbox.c.id)
        ).scalars().all()
    return [env for env in rows if env["id"] not in done]


def handle_pages(runtime: Runtime, env: dict[str, Any]) -> bool:
    """Deliver one ``RepublishPages`` envelope as the worker does (inbox, then the use case)."""
    return consume(runtime.db, env, lambda uow, m: services.republish_pages(uow, context(runtime, uow), m))


def republish(runtime: Runtime) -> int:
    """Handle every ``RepublishPages`` the book service emitted and no consumer has handled yet,
    as its worker does one hop after the inscription; returns how many."""
    pending = pages_pending(runtime)
    for env in pending:
        handle_pages(runtime, env)
    return len(pending)


def sent_messages(runtime: Runtime, type_: str | None = None) -> list[dict[str, Any]]:
    """The payloads the book service put in its outbox."""
    with runtime.db.reading() as s:
        rows = s.execute(sa.select(outbox.c.type, outbox.c.envelope).order_by(outbox.c.id)).all()
    return [r.envelope["payload"] for r in rows if type_ is None or r.type == type_]
