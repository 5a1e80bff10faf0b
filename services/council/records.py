"""The council's documents, read side: a round's recognition decision (R8, R14) and the proposal
dossiers units send the provincial council (R11). Queries ``fn(uow, ctx, who, …)`` over the unit
of work their entrypoint opened; nothing here writes."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.council import repository as repo
from services.council.domain.rounds import CLOSED, RECOGNISING
from services.council.orm import candidate_results, candidates, decisions, dossiers, tallies
from shared import clock
from shared.auth import Principal
from shared.clock import QUARTER_PATTERN
from shared.context import Context
from shared.db import UnitOfWork
from shared.org import Organisation
from shared.refusals import Forbidden, Invalid, NotFound

# The public fields of a deed's frozen copy a dossier shows (R2a: beneficiaries never reach the
# council; listed all the same, so that nothing added to the copy one day is shown unawares).
DEED_FIELDS = ("id", "title", "description", "kind", "relation", "occurred_on", "month", "place", "author",
               "unit", "subunit")
EVIDENCE_FIELDS = ("sha256", "content_type", "size")


def _unit_kind(org: Organisation, code: str) -> str:
    if code == org.province_code:
        return "province"
    unit = org.units.get(code)
    return unit.kind if unit else "district"


def _book_name(org: Organisation, code: str) -> str:
    return f"Sổ vàng lập công của {org.unit_name(code)}"


# -- R8: the decision ----------------------------------------------------------------------------
def decision_data(uow: UnitOfWork, ctx: Context, round_id: str) -> dict[str, Any]:
    """What the recognition decision of a closed round says: public (R16: it names only the deeds
    it recognises, so no one need say who asks); 404 for a round that recognised nothing or is
    not closed yet."""
    org = ctx.organisation
    s = uow.reader
    row = repo.round_(s, round_id)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    tally = repo.tally(s, round_id) if row.status == CLOSED else None
    if tally is None or not tally.decision_number:
        raise NotFound("Phiên này không có quyết định công nhận (R8): chưa đóng, hoặc không công nhận việc tốt nào.")
    issued = s.execute(sa.select(decisions).where(decisions.c.number == tally.decision_number)).first()
    chosen = s.execute(
        sa.select(candidates, candidate_results.c.approve, candidate_results.c.entitled,
                  candidate_results.c.base)
        .join(candidate_results, sa.and_(candidate_results.c.round_id == candidates.c.round_id,
                                         candidate_results.c.candidate_id == candidates.c.id))
        .where(candidates.c.round_id == round_id, candidate_results.c.selected.is_(True))
        .order_by(candidates.c.position)
    ).all()
    issuer = issued.issuer if issued is not None else row.unit
    deeds = [
        {"deed_id": c.deed_id, "title": c.title, "author_name": (c.author or {}).get("name") or org.author_name(c.author),
         "unit": c.unit, "unit_name": org.unit_name(c.unit), "kind": c.deed.get("kind", ""),
         "occurred_on": c.deed.get("occurred_on", ""), "approve": c.approve, "entitled": c.entitled,
         "ratio": f"{c.approve}/{c.base}"}
        for c in chosen
    ]
    if row.kind in RECOGNISING:
        book = _book_name(org, row.unit)
    elif row.kind == "referral":
        # R17a: recognised by the province, inscribed in the book of the deed's own unit.
        books = sorted({d["unit"] for d in deeds})
        book = _book_name(org, books[0]) if len(books) == 1 else "Sổ vàng lập công của các đơn vị có tên tại Điều 1"
    else:
        book = _book_name(org, org.province_code)
    return {
        "number": tally.decision_number,
        "date": tally.decision_date,
        "issuer": issuer,
        "issuer_name": org.unit_name(issuer),
        "issuer_kind": _unit_kind(org, issuer),
        "province_name": org.province_name,
        "programme": org.programme_name,
        "council_name": f"Hội đồng xét việc tốt vì Nhân dân {org.unit_name(row.unit)}",
        "threshold_percent": row.threshold_percent,
        "round": {"id": row.id, "kind": row.kind, "period": row.period},
        "closed_at": clock.isoformat(tally.closed_at),
        "book_name": book,
        "deeds": deeds,
    }


# -- R11: the dossiers ---------------------------------------------------------------------------
def _dossier_scope(session: Session, org: Organisation, who: Principal) -> str | None:
    """The one unit whose dossiers ``who`` may read, or None for every unit; 403 for anyone else."""
    if who.role == "province_secretary" and who.subject == org.province_secretary:
        return None
    if who.role == "council_member" and repo.is_member(session, org.provincial_council.code, who.subject):
        return None
    if who.role == "unit_secretary":
        unit = org.unit_led_by(who.subject)
        if unit is not None:
            return unit
    raise Forbidden("Chỉ thư ký của đơn vị, thư ký và thành viên Hội đồng cấp tỉnh được xem hồ sơ đề nghị (R11).")


def _sent_on(session: Session, quarterly_round_id: str) -> str | None:
    closed = session.execute(sa.select(tallies.c.closed_at).where(tallies.c.round_id == quarterly_round_id)).scalar()
    return clock.local(closed).date().isoformat() if closed else None


def dossier_view(row: Row, sent_on: str | None = None) -> dict[str, Any]:
    """API.md R11: the proposal dossier as sent: the deed (public fields), its evidence list, its
    monthly decision and tally, the quarterly tally."""
    deed = {k: row.deed.get(k) for k in DEED_FIELDS if k in row.deed}
    decision = row.monthly_decision or {}
    return {
        "id": row.id,
        "deed_id": row.deed_id,
        "quarter": row.quarter,
        "unit": row.unit,
        "deed": deed,
        "evidence": [{k: e.get(k) for k in EVIDENCE_FIELDS} for e in (row.evidence or [])],
        "monthly_decision": {k: decision[k] for k in ("number", "date", "issuer", "issuer_name") if k in decision}
        or None,
        "monthly_tally": _tally(row.monthly_tally),
        "quarterly_round": row.quarterly_round_id,
        "quarterly_tally": _tally(row.quarterly_tally),
        "sent_on": sent_on,
        "received_at": clock.isoformat(row.created_at),
    }


def _tally(t: dict[str, Any] | None) -> dict[str, Any] | None:
    if not t:
        return None
    return {k: t[k] for k in ("approve", "reject", "abstain", "entitled", "ratio", "round", "period") if k in t}


def dossier_key(dossier: dict[str, Any]) -> list[str]:
    """Where a dossier stands in the list, the key its page's cursor names (``shared.cursors``)."""
    return [dossier["quarter"], dossier["unit"], dossier["id"]]


def list_dossiers(uow: UnitOfWork, ctx: Context, who: Principal, quarter: str | None, unit: str | None,
                  limit: int, after: list[str] | None) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` dossiers ``who`` may read, by quarter, unit and id, after ``after``
    (the ``dossier_key`` of the last one read)."""
    org = ctx.organisation
    if quarter is not None and not re.fullmatch(QUARTER_PATTERN, quarter):
        # The pattern the document states: a quarter of the programme (from 2021-Q3).
        raise Invalid("quarter phải có dạng YYYY-Qn, từ 2021-Q3.", errors={"quarter": ["Phải có dạng YYYY-Qn, từ 2021-Q3."]})
    s = uow.reader
    scope = _dossier_scope(s, org, who)
    if scope is not None and unit is not None and unit != scope:
        raise Forbidden(f"Thư ký đơn vị chỉ xem hồ sơ đề nghị của đơn vị mình ({scope}).")
    query = sa.select(dossiers)
    if quarter is not None:
        query = query.where(dossiers.c.quarter == quarter)
    if scope is not None or unit is not None:
        query = query.where(dossiers.c.unit == (scope or unit))
    if after is not None:
        query = query.where(sa.tuple_(dossiers.c.quarter, dossiers.c.unit, dossiers.c.id) > tuple(after))
    rows = s.execute(query.order_by(dossiers.c.quarter, dossiers.c.unit, dossiers.c.id).limit(limit + 1)).all()
    sent = {r.quarterly_round_id: _sent_on(s, r.quarterly_round_id) for r in rows}
    return [dossier_view(r, sent[r.quarterly_round_id]) for r in rows]


def _dossier(session: Session, org: Organisation, who: Principal, dossier_id: str) -> Row:
    scope = _dossier_scope(session, org, who)
    row = session.execute(sa.select(dossiers).where(dossiers.c.id == dossier_id)).first()
    if row is None:
        raise NotFound("Không có hồ sơ đề nghị này.")
    if scope is not None and row.unit != scope:
        raise Forbidden(f"Thư ký đơn vị chỉ xem hồ sơ đề nghị của đơn vị mình ({scope}).")
    return row


def read_dossier(uow: UnitOfWork, ctx: Context, who: Principal, dossier_id: str) -> dict[str, Any]:
    s = uow.reader
    row = _dossier(s, ctx.organisation, who, dossier_id)
    return dossier_view(row, _sent_on(s, row.quarterly_round_id))


def dossier_document(uow: UnitOfWork, ctx: Context, who: Principal, dossier_id: str) -> dict[str, Any]:
    """What the dossier's PDF prints: the view, with the names the document spells out."""
    org = ctx.organisation
    s = uow.reader
    row = _dossier(s, org, who, dossier_id)
    view = dossier_view(row, _sent_on(s, row.quarterly_round_id))
    author = view["deed"].get("author") or {}
    return {
        **view,
        "created_at": view["received_at"],
        "unit_name": org.unit_name(row.unit),
        "unit_kind": _unit_kind(org, row.unit),
        "province_name": org.province_name,
        "author_name": author.get("name") or org.author_name(author),
        "council_name": f"Hội đồng xét việc tốt vì Nhân dân {org.unit_name(row.unit)}",
        "provincial_council_name": f"Hội đồng xét việc tốt vì Nhân dân {org.province_name}",
        "monthly_decision": view["monthly_decision"] or {},
        "monthly_tally": view["monthly_tally"] or {},
        "quarterly_tally": view["quarterly_tally"] or {},
        "quarterly_round_id": view["quarterly_round"],
    }
