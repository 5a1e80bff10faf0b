"""What the council's pages for people show (the ballot page, the province's dashboard), read
from the council's own tables: queries ``fn(uow, ctx, who, …)`` over the request's unit of work
(``shared.endpoint.read``); nothing here writes."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.council import queries
from services.council import repository as repo
from services.council.domain.rounds import (
    CLOSED,
    MONTHLY,
    PROVINCIAL,
    QUARTERLY,
    REFERRAL,
    RUNOFF,
    SUPPLEMENTARY,
)
from services.council.orm import candidate_results, candidates, dossiers, rounds
from shared import clock
from shared.auth import Principal
from shared.clock import Month, Quarter
from shared.context import Context
from shared.db import UnitOfWork
from shared.org import Organisation

KIND_LABELS = {
    "good_deed": "Việc tốt",
    "achievement": "Thành tích",
    "feat": "Chiến công",
    "exemplar": "Gương người tốt",
}
RELATION_LABELS = {"direct": "Trực tiếp vì Nhân dân", "indirect": "Gián tiếp vì Nhân dân"}
ROUND_LABELS = {
    MONTHLY: "Phiên xét",
    SUPPLEMENTARY: "Phiên xét bổ sung",
    QUARTERLY: "Phiên chọn việc tốt tiêu biểu",
    PROVINCIAL: "Phiên xét cấp tỉnh",
    RUNOFF: "Phiên bỏ phiếu lại (đồng hạng)",
    REFERRAL: "Phiên xét việc do đơn vị chuyển lên",
}
CHOICE_LABELS = {"approve": "Tán thành", "reject": "Không tán thành", "abstain": "Không biểu quyết"}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def period_label(period: str) -> str:
    """``2026-07`` → ``tháng 7/2026``; ``2026-Q3`` → ``quý III/2026``."""
    try:
        q = Quarter.parse(period)
        return f"quý {ROMAN[q.q]}/{q.year}"
    except ValueError:
        pass
    try:
        m = Month.parse(period)
        return f"tháng {m.month}/{m.year}"
    except ValueError:
        return period


def instant_label(instant: dt.datetime | None) -> str:
    """An instant as people read it here: ``17:00 ngày 07/08/2026`` (Asia/Ho_Chi_Minh)."""
    if instant is None:
        return ""
    local = clock.local(instant)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def date_label(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return dt.date.fromisoformat(iso[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return iso


def content_label(content_type: str) -> str:
    return {
        "image/jpeg": "ảnh JPEG", "image/png": "ảnh PNG", "image/webp": "ảnh WebP",
        "application/pdf": "tài liệu PDF", "video/mp4": "video MP4",
    }.get(content_type, content_type)


def size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")
    if size >= 1024:
        return f"{round(size / 1024)} KB"
    return f"{size} byte"


# -- the ballot page -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoundSummary:
    """A round as a member's list shows it."""

    id: str
    council: str
    kind: str
    period: str
    status: str
    closes_at: dt.datetime
    voted: bool
    entitled_to: int

    @property
    def label(self) -> str:
        return f"{ROUND_LABELS.get(self.kind, self.kind)} {period_label(self.period)}"


@dataclass(frozen=True)
class Evidence:
    url: str
    label: str


@dataclass(frozen=True)
class CandidateView:
    id: str
    title: str
    description: str
    author_name: str
    unit_name: str
    subunit_name: str | None
    occurred_on: str
    kind: str
    relation: str
    place: str | None
    entitled: bool
    evidence: list[Evidence] = field(default_factory=list)
    withdrawn: bool = False  # R15a: its recognition was revoked while the round was open


@dataclass(frozen=True)
class BallotRound:
    """One round as a member sees it on the ballot page."""

    id: str
    council: str
    council_name: str
    kind: str
    period: str
    status: str
    opens_at: dt.datetime
    closes_at: dt.datetime
    entitled: int
    voted_count: int
    has_voted: bool
    candidates: list[CandidateView]
    result: dict[str, Any] | None = None
    member: bool = True  # whether the member sits on the round's council

    @property
    def label(self) -> str:
        return f"{ROUND_LABELS.get(self.kind, self.kind)} {period_label(self.period)}"

    @property
    def mine(self) -> list[CandidateView]:
        """The candidates this member votes on (R17)."""
        return [c for c in self.candidates if c.entitled]


def council_name(org: Organisation, council: str, unit: str) -> str:
    return f"Hội đồng xét việc tốt vì Nhân dân {org.unit_name(unit)}"


def member_rounds(uow: UnitOfWork, ctx: Context, who: Principal) -> list[RoundSummary]:
    """The rounds of every council ``who`` sits on: open ones first, then the newest."""
    session, member = uow.reader, who.subject
    codes = repo.councils_of_member(session, member)
    if not codes:
        return []
    rows = session.execute(
        sa.select(rounds).where(rounds.c.council.in_(codes)).order_by(rounds.c.opens_at.desc(), rounds.c.id.desc())
    ).all()
    out = []
    for r in rows:
        out.append(RoundSummary(
            id=r.id, council=r.council, kind=r.kind, period=r.period, status=r.status, closes_at=r.closes_at,
            voted=repo.has_voted(session, r.id, member), entitled_to=len(repo.entitled_to(session, r.id, member)),
        ))
    order = {"open": 0, "opening": 1, CLOSED: 2, "cancelled": 3}
    return sorted(out, key=lambda s: order.get(s.status, 3))


def ballot_round(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> BallotRound | None:
    """A round with its candidates' frozen deeds and what ``who`` may do on it."""
    session, org, member = uow.reader, ctx.organisation, who.subject
    row = repo.round_(session, round_id)
    if row is None:
        return None
    mine = repo.entitled_to(session, row.id, member)
    cands = []
    for c in repo.candidates_of(session, row.id):
        deed = c.deed or {}
        subunit = deed.get("subunit")
        evidence = [
            Evidence(
                url=f"/api/v1/deeds/{deed.get('id')}/evidence/{e['sha256']}",
                label=f"{content_label(e.get('content_type', ''))}, {size_label(int(e.get('size') or 0))}",
            )
            for e in deed.get("evidence") or []
            if isinstance(e, dict) and e.get("sha256")
        ]
        cands.append(CandidateView(
            id=c.id,
            title=deed.get("title") or c.title,
            description=deed.get("description") or "",
            author_name=(deed.get("author") or {}).get("name") or org.author_name(c.author or {}),
            unit_name=org.unit_name(c.unit),
            subunit_name=org.subunits[subunit].name if subunit in org.subunits else None,
            occurred_on=deed.get("occurred_on") or "",
            kind=KIND_LABELS.get(deed.get("kind", ""), deed.get("kind", "")),
            relation=RELATION_LABELS.get(deed.get("relation", ""), deed.get("relation", "")),
            place=deed.get("place"),
            entitled=c.id in mine,
            evidence=evidence,
            withdrawn=bool(c.withdrawn),
        ))
    return BallotRound(
        id=row.id, council=row.council, council_name=council_name(org, row.council, row.unit), kind=row.kind,
        period=row.period, status=row.status, opens_at=row.opens_at, closes_at=row.closes_at,
        entitled=row.entitled, voted_count=repo.voted_count(session, row),
        has_voted=repo.has_voted(session, row.id, member), candidates=cands,
        result=queries.result_view(session, row) if row.status == CLOSED else None,
        member=any(c.entitled for c in cands) or repo.is_member(session, row.council, member),
    )


# -- the province's dashboard (R10) ----------------------------------------------------------------
@dataclass(frozen=True)
class MonthCell:
    """One unit's month: R10's counts, and what the quarter made of that month's deeds."""

    month: str
    recorded: int
    introduced: int
    candidates: int
    recognised: int
    quota_met: bool | None
    supplementary: bool
    proposed: int
    inscribed: int


@dataclass(frozen=True)
class UnitRow:
    unit: str
    name: str
    months: list[MonthCell]

    def total(self, name: str) -> int:
        return sum(getattr(m, name) for m in self.months)

    @property
    def met(self) -> int:
        return sum(1 for m in self.months if m.quota_met)


@dataclass(frozen=True)
class Dashboard:
    quarter: str
    months: list[str]
    rows: list[UnitRow]

    def total(self, name: str) -> int:
        return sum(r.total(name) for r in self.rows)

    @property
    def decided(self) -> int:
        """Unit-months whose quota is known (their monthly round has closed)."""
        return sum(1 for r in self.rows for m in r.months if m.quota_met is not None)

    @property
    def met(self) -> int:
        return sum(r.met for r in self.rows)


def _deed_month(deed: dict[str, Any]) -> str | None:
    month = deed.get("month")
    if isinstance(month, str):
        return month
    occurred = deed.get("occurred_on")
    return occurred[:7] if isinstance(occurred, str) else None


def _provincial_selections(session: Session, quarter: str) -> list[dict[str, Any]]:
    """The deeds selected by the provincial council (its round or a runoff) for ``quarter``: the
    ones it sent the provincial book (R12–R14)."""
    rows = session.execute(
        sa.select(candidates.c.deed)
        .select_from(
            candidates.join(rounds, rounds.c.id == candidates.c.round_id).join(
                candidate_results,
                sa.and_(candidate_results.c.round_id == candidates.c.round_id,
                        candidate_results.c.candidate_id == candidates.c.id),
            )
        )
        .where(rounds.c.kind.in_((PROVINCIAL, RUNOFF)), rounds.c.period == quarter,
               candidate_results.c.selected.is_(True))
    ).scalars()
    return list(rows)


def dashboard(uow: UnitOfWork, ctx: Context, quarter: Quarter, units: list[str]) -> Dashboard:
    """R10: every unit month by month in one quarter, with the quarter's proposals and inscriptions
    counted in the month of their deed."""
    session, org = uow.reader, ctx.organisation
    months = [str(m) for m in quarter.months]
    summaries: dict[tuple[str, str], dict[str, Any]] = {}
    for month in months:
        for row in queries.monthly_summary(session, units, month):
            summaries[(row["unit"], month)] = row
    supplementary = {
        (r.unit, r.period)
        for r in session.execute(
            sa.select(rounds.c.unit, rounds.c.period).where(rounds.c.kind == SUPPLEMENTARY, rounds.c.period.in_(months))
        )
    }
    proposed = Counter(
        (d.unit, _deed_month(d.deed))
        for d in session.execute(sa.select(dossiers.c.unit, dossiers.c.deed).where(dossiers.c.quarter == str(quarter)))
    )
    inscribed = Counter((d.get("unit"), _deed_month(d)) for d in _provincial_selections(session, str(quarter)))
    out = []
    for unit in units:
        cells = []
        for month in months:
            s = summaries[(unit, month)]
            cells.append(MonthCell(
                month=month, recorded=s["recorded"], introduced=s["introduced"], candidates=s["candidates"],
                recognised=s["recognised"], quota_met=s["quota_met"], supplementary=(unit, month) in supplementary,
                proposed=proposed.get((unit, month), 0), inscribed=inscribed.get((unit, month), 0),
            ))
        out.append(UnitRow(unit=unit, name=org.unit_name(unit), months=cells))
    return Dashboard(quarter=str(quarter), months=months, rows=out)
