"""intake's use cases: ``fn(uow, ctx, actor, …)`` over intake's unit of work
(``repository.Work``), a context (``shared.context``) and the actor. A use case decides and
writes; it never commits: whoever opened the unit of work — the web request
(``shared.endpoint``), the message (``shared.outbox.consume``), the command — commits once, or
rolls back what a refusal (``shared.refusals``) left.

The message handlers at the end are ``fn(uow, message)``: the consumer commits them together
with the inbox record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from services.intake.domain import scope
from services.intake.domain.dates import occurred_on_problem
from services.intake.domain.deed import Closure, Deed, Evidence
from services.intake.domain.evidence import sniff
from services.intake.domain.scope import Actor
from services.intake.domain.status import advance, status_after_entry
from services.intake.repository import Work
from shared import audit
from shared.context import Context
from shared.db import utcnow
from shared.ids import new_id
from shared.messages import (
    CloseIntroductions,
    DeedFateDecided,
    DeedInscribed,
    DeedIntroduced,
    DeedsRecorded,
    IntroductionsClosed,
    ReopenIntroductions,
)
from shared.org import Organisation, OrgRefused
from shared.refusals import Conflict, Forbidden, Invalid, NotFound, UnsupportedType

log = logging.getLogger(__name__)

# Evidence may be added while the deed is still intake's alone: once its month is closed the
# council holds a frozen copy, which a later file would silently miss.
EVIDENCE_OPEN = ("recorded", "introduced")


# -- the organisation ----------------------------------------------------------------------------
def _org_problems(uow: Work, org: Organisation) -> list[str]:
    """R25 with R5a: deeds introduced to a unit the file dissolves, still waiting for its next
    monthly round, would be stranded (no council is left to vote on them)."""
    return [f"Đơn vị {unit} còn {n} việc tốt đã giới thiệu đang chờ phiên tháng mà tệp tổ chức bỏ đơn vị này: "
            f"hãy mở và đóng phiên tháng của đơn vị trước khi nạp tổ chức mới."
            for unit, n in uow.deeds.introduced_by_unit().items() if unit not in org.units]


def check_org(uow: Work, ctx: Context, doc: dict[str, Any]) -> list[str]:
    """R25: why this organisation may not replace the loaded one here; empty when it may. Deeds
    keep the unit they were recorded in, and their authors read them wherever they serve (``_own``).
    Writes nothing."""
    return _org_problems(uow, Organisation.loadable(doc))


def load_org(uow: Work, ctx: Context, doc: dict[str, Any], actor: audit.Actor = audit.CLI,
             details: dict[str, Any] | None = None) -> bool:
    """R25: keep the organisation; loading the same document again changes nothing (False); one
    that would strand introduced deeds is refused (``OrgRefused``), nothing written. ``actor`` and
    ``details`` go on its R23 line."""
    found = _org_problems(uow, Organisation.loadable(doc))
    if found:
        raise OrgRefused(found)
    return uow.keep_organisation(doc, actor, details)


# -- recording -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placed:
    """A valid deed input placed in the organisation: its unit, sub-unit and author's name."""

    data: dict[str, Any]
    unit: str
    subunit: str | None
    author_name: str


def _place(org: Organisation, actor: Actor, data: dict[str, Any], ctx: Context) -> Placed:
    """R2, R3: check one deed input against the organisation, the actor's scope and the dates."""
    author = data["author"]
    placed = org.author_unit(author)
    if placed is None:
        what = "Cán bộ" if "officer" in author else "Tập thể"
        code = next(iter(author.values()))
        raise Invalid("Tác giả không có trong tổ chức.",
                      {"author": [f"{what} {code} không thuộc đơn vị nào của tổ chức."]})
    if not scope.may_record(org, actor, author):
        raise Forbidden(f"Vai trò {actor.role} của {actor.subject} không được ghi việc tốt của tác giả này.")
    since = dt.date.fromisoformat(ctx.settings.programme_since)
    problem = occurred_on_problem(data["occurred_on"], ctx.today, since, ctx.settings.late_days)
    if problem:
        raise Invalid(problem, {"occurred_on": [problem]})
    unit, subunit = placed
    return Placed(data, unit, subunit, org.author_name(author))


def _new_deed(placed: Placed, created_by: str, now: dt.datetime) -> Deed:
    data = placed.data
    ((kind, code),) = data["author"].items()
    return Deed(
        id=new_id(), author_kind=kind, author_code=code, author_name=placed.author_name, unit=placed.unit,
        subunit=placed.subunit, occurred_on=data["occurred_on"], kind=data["kind"], relation=data["relation"],
        title=data["title"], description=data["description"], place=data.get("place"),
        beneficiaries=data.get("beneficiaries"), status="recorded", created_at=now, created_by=created_by,
    )


def _recorded(new: list[Deed]) -> list[DeedsRecorded]:
    """R10: what council counts, one message per (unit, month) of the deeds, in their order."""
    ids: dict[tuple[str, str], list[str]] = {}
    for deed in new:
        ids.setdefault((deed.unit, deed.month), []).append(deed.id)
    return [DeedsRecorded(unit=unit, month=month, deed_ids=deed_ids) for (unit, month), deed_ids in ids.items()]


def _recorded_lines(actor: Actor, new: list[Deed]) -> list[audit.Line]:
    """R23: one line per deed recorded; never its text (R2a: the beneficiaries stay in the deed)."""
    return [(actor, "deed.recorded", d.id, d.unit, {"month": d.month, "batch": len(new) > 1}) for d in new]


def _answer(org: Organisation, actor: Actor, deed: Deed, evidence: list[Evidence]) -> dict[str, Any]:
    """What intake answers ``actor``, who may read the deed: the beneficiaries only to those R2a names."""
    return deed.view(evidence, scope.may_see_beneficiaries(org, actor, deed.author, deed.unit, deed.subunit))


def record_deed(uow: Work, ctx: Context, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """R2: record one deed (status ``recorded``); council hears of it for its counts (R10)."""
    org = ctx.organisation
    deed = _new_deed(_place(org, actor, data, ctx), f"{actor.role}:{actor.subject}", ctx.now)
    uow.record([deed], _recorded([deed]), _recorded_lines(actor, [deed]), at=deed.created_at)
    return _answer(org, actor, deed, [])


def record_batch(uow: Work, ctx: Context, actor: Actor, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All or nothing: every deed is checked first; one refused → nothing stored, reasons by index."""
    if actor.role not in scope.BATCH_RECORDERS:
        raise Forbidden(f"Vai trò {actor.role} không được ghi theo lô.")
    org = ctx.organisation
    placed: list[Placed] = []
    invalid: dict[str, Any] = {}
    forbidden: dict[str, Any] = {}
    for i, data in enumerate(items):
        try:
            placed.append(_place(org, actor, data, ctx))
        except Invalid as exc:
            invalid[str(i)] = exc.errors
        except Forbidden as exc:
            forbidden[str(i)] = {"author": [exc.detail]}
    if forbidden:
        raise Forbidden("Có việc tốt ngoài phạm vi được ghi; không việc nào được lưu.", forbidden)
    if invalid:
        raise Invalid("Có việc tốt không hợp lệ; không việc nào được lưu.", invalid)
    created_by = f"{actor.role}:{actor.subject}"
    new = [_new_deed(p, created_by, ctx.now) for p in placed]
    # One multi-row INSERT and one message per (unit, month), not per deed.
    uow.record(new, _recorded(new), _recorded_lines(actor, new), at=ctx.now)
    return [_answer(org, actor, d, []) for d in new]


# -- reading -------------------------------------------------------------------------------------
def _own(actor: Actor, deed: Deed) -> bool:
    """R25: an officer reads their own deeds wherever they serve now (a deed keeps the unit it was
    recorded in; its author may have moved since)."""
    return actor.role in ("officer", "council_member") and deed.by_officer(actor.subject)


def _readable(uow: Work, org: Organisation, actor: Actor, deed_id: str) -> Deed:
    """The deed, if the actor may read it; 404 alike for a deed absent and one out of scope, so
    that its existence does not leak to other units."""
    if actor.role not in scope.READERS:
        raise Forbidden(f"Vai trò {actor.role} không được xem việc tốt.")
    deed = uow.deeds.get(deed_id)
    if deed is None or not (scope.may_read(org, actor, deed.unit) or _own(actor, deed)):
        raise NotFound("Không tìm thấy việc tốt này.")
    return deed


def get_deed(uow: Work, ctx: Context, actor: Actor, deed_id: str) -> dict[str, Any]:
    org = ctx.organisation
    deed = _readable(uow, org, actor, deed_id)
    return _answer(org, actor, deed, uow.deeds.evidence_of([deed.id])[deed.id])


def list_deeds(
    uow: Work, ctx: Context, actor: Actor, filters: dict[str, Any], limit: int, after: str | None
) -> list[dict[str, Any]]:
    """Deeds in the actor's scope, oldest first, up to ``limit + 1`` (for the next cursor).

    ``q`` (R4) keeps the deeds where every word of it starts a word of the title or the
    description, ignoring case and diacritics.
    """
    if actor.role not in scope.READERS:
        raise Forbidden(f"Vai trò {actor.role} không được xem việc tốt.")
    org = ctx.organisation
    unit = filters.get("unit")
    if actor.role == "province_secretary":
        if not scope.may_read(org, actor, unit or ""):
            raise Forbidden("Chỉ thư ký Công an tỉnh được xem việc tốt của mọi đơn vị.")
        if unit is not None and unit not in org.units and not uow.deeds.any_in(unit):
            # R25: a unit dissolved since keeps its deeds, readable by the province.
            raise Invalid("Đơn vị không có trong tổ chức.", {"unit": [f"Không có đơn vị {unit}."]})
    else:
        own = scope.actor_unit(org, actor)
        if own is None:
            raise Forbidden(f"{actor.subject} không thuộc đơn vị nào.")
        if unit is not None and unit != own:
            raise Forbidden(f"Chỉ được xem việc tốt của đơn vị mình ({own}).")
        unit = own
    # R25: an officer's list holds their own deeds too, recorded in a unit they have left.
    also_own = actor.subject if unit is not None and actor.role == "officer" and filters.get("unit") is None else None
    found = uow.deeds.find(unit=unit, also_by_officer=also_own, month=filters.get("month"),
                           status=filters.get("status"), q=filters.get("q") or "", limit=limit + 1, after=after)
    evidence = uow.deeds.evidence_of([d.id for d in found])
    return [_answer(org, actor, d, evidence[d.id]) for d in found]


# -- introducing ---------------------------------------------------------------------------------
def introduce(uow: Work, ctx: Context, actor: Actor, deed_id: str) -> dict[str, Any]:
    """R5: a sub-unit lead or the unit secretary introduces a recorded deed to its unit. Once the
    unit's round for that month has opened, the deed is carried into the unit's next monthly
    round (R5a: ``carried_over``), so nothing recorded inside R3's window is stranded.
    Introducing it again changes nothing."""
    if actor.role not in scope.INTRODUCERS:
        raise Forbidden(f"Vai trò {actor.role} không được giới thiệu việc tốt.")
    org = ctx.organisation
    deed = _readable(uow, org, actor, deed_id)
    if not scope.may_introduce(org, actor, deed.unit, deed.subunit):
        raise Forbidden("Chỉ trưởng đơn vị cơ sở của việc tốt hoặc thư ký đơn vị được giới thiệu việc tốt này.")
    closed = uow.deeds.lock_month(deed.unit, deed.month).closed_at is not None
    if closed:
        # After the month's lock, as the closing of every month takes them (no deadlock).
        uow.deeds.lock_carries(deed.unit)
    deed = uow.deeds.get(deed.id, fresh=True) or deed
    if deed.status not in ("recorded", "introduced"):
        raise Conflict(f"Việc tốt đang ở trạng thái {deed.status}, không thể giới thiệu.")
    if deed.status == "recorded":
        deed = replace(deed, status="introduced", carried_over=closed)
        uow.deeds.change(deed.id, status=deed.status, carried_over=closed)
        uow.emit(DeedIntroduced(deed_id=deed.id, unit=deed.unit, month=deed.month))
        uow.audit([(actor, "deed.introduced", deed.id, deed.unit, {"month": deed.month, "carried_over": closed})])
    return _answer(org, actor, deed, uow.deeds.evidence_of([deed.id])[deed.id])


# -- evidence ------------------------------------------------------------------------------------
def add_evidence(uow: Work, ctx: Context, actor: Actor, deed_id: str, content: bytes) -> dict[str, Any]:
    """Keep an evidence file by its content hash; its type is read from its bytes."""
    if actor.role not in scope.RECORDERS:
        raise Forbidden(f"Vai trò {actor.role} không được thêm bằng chứng.")
    if not content:
        raise Invalid("Tệp rỗng.", {"file": ["Tệp rỗng."]})
    content_type = sniff(content[:16])
    if content_type is None:
        raise UnsupportedType(
            "Chỉ nhận tệp JPEG, PNG, WebP, PDF hoặc MP4 (kiểu đọc từ nội dung tệp).",
            {"file": ["Kiểu tệp không được chấp nhận."]},
        )
    digest = hashlib.sha256(content).hexdigest()
    org = ctx.organisation
    deed = _readable(uow, org, actor, deed_id)
    if not scope.may_record(org, actor, deed.author):
        raise Forbidden("Chỉ người được ghi việc tốt này mới được thêm bằng chứng.")
    if deed.status not in EVIDENCE_OPEN:
        raise Conflict(f"Việc tốt đang ở trạng thái {deed.status}: bản sao đã chuyển hội đồng, "
                       "không thêm bằng chứng được nữa.")
    uow.deeds.keep_file(digest, content_type, content, ctx.now)
    if uow.deeds.attach(deed.id, digest, ctx.now, f"{actor.role}:{actor.subject}"):
        uow.audit([(actor, "evidence.added", deed.id, deed.unit,
                    {"sha256": digest, "size": len(content), "content_type": content_type})], at=ctx.now)
    return {"sha256": digest, "size": len(content), "content_type": content_type}


def get_evidence(uow: Work, ctx: Context, actor: Actor, deed_id: str, sha256: str) -> tuple[str, bytes]:
    """An evidence file of a deed, to whoever may read the deed and to the council members while
    the deed is their candidate."""
    org = ctx.organisation
    deed = uow.deeds.get(deed_id)
    allowed = deed is not None and (
        scope.may_read(org, actor, deed.unit)
        or scope.may_see_candidate_evidence(org, actor, deed.unit, deed.status)
    )
    if not allowed:
        if actor.role not in (*scope.READERS, "council_member"):
            raise Forbidden(f"Vai trò {actor.role} không được xem bằng chứng.")
        raise NotFound("Không tìm thấy việc tốt này.")
    found = uow.deeds.file(deed_id, sha256)
    if found is None:
        raise NotFound("Việc tốt này không có tệp bằng chứng đó.")
    return found


# -- messages from the other services ------------------------------------------------------------
# A later round of the same month (R9's supplementary round) puts to the vote again what the
# first one did not select; nothing can be introduced to a closed month.
CANDIDATE_STATUSES = ("introduced", "in_round", "not_selected")


def close_introductions(uow: Work, msg: CloseIntroductions) -> None:
    """A monthly round is opening: close the unit's month to introductions, put its introduced
    deeds in the round, with the deeds of earlier months carried over to it (R5a), and send
    council the final list with frozen copies, all in this transaction. A round already answered
    is answered once only.

    A carried deed goes to the first round whose closing takes the unit's carry lock after its
    introduction (``carried_to`` records it; the same month's round opened anew takes it again,
    no other round does)."""
    if uow.deeds.closure(msg.round_id) is not None:
        return
    unit_month = uow.deeds.lock_month(msg.unit, msg.month)
    uow.deeds.lock_carries(msg.unit)
    now = utcnow()
    if unit_month.closed_at is None:
        uow.deeds.mark_month(msg.unit, msg.month, now, msg.round_id)
    taken = uow.deeds.candidates(msg.unit, msg.month, CANDIDATE_STATUSES)
    for deed in taken:
        changes: dict[str, Any] = {"status": advance(deed.status, "in_round")}
        if deed.carried_over:
            changes["carried_to"] = msg.month
        if any(getattr(deed, k) != v for k, v in changes.items()):
            uow.deeds.change(deed.id, **changes)
    recorded = uow.deeds.recorded_in(msg.unit, msg.month)
    evidence = uow.deeds.evidence_of([d.id for d in taken])
    uow.deeds.add_closure(Closure(msg.round_id, msg.council, msg.unit, msg.month, tuple(d.id for d in taken), now))
    uow.audit([(audit.system("council"), "month.closed_to_introductions", f"{msg.unit}:{msg.month}", msg.unit,
                {"round": msg.round_id, "deeds": len(taken)})], at=now)
    uow.emit(IntroductionsClosed(
        round_id=msg.round_id, unit=msg.unit, month=msg.month, recorded=recorded,
        deeds=[d.copy(evidence[d.id]) for d in taken],
    ))


def reopen_introductions(uow: Work, msg: ReopenIntroductions) -> None:
    """R20a: the monthly round that closed this month was cancelled before any ballot. The month
    takes introductions again, and the deeds its closing put in the round are introduced as they
    were: those of the month wait for the month's next round, those carried over from earlier
    months (R5a) for whichever monthly round of the unit comes next.

    Applied once: only while the month is still closed by that round (a new round of the month
    that closed it since has its own deeds, which this message never touches)."""
    closure = uow.deeds.closure(msg.round_id)
    if closure is None:
        log.warning("reopen_introductions for round %s, which never closed a month: ignored", msg.round_id)
        return
    unit_month = uow.deeds.lock_month(closure.unit, closure.month)
    uow.deeds.lock_carries(closure.unit)
    if unit_month.closed_by_round != msg.round_id:
        log.info("reopen_introductions for round %s: the month is no longer closed by it", msg.round_id)
        return
    newer = uow.deeds.newest_closure_after(closure)
    if newer is not None:
        # The month's round opened anew and was answered before this message came: the month stays
        # closed, by that round, which holds the deeds now.
        uow.deeds.mark_month(closure.unit, closure.month, unit_month.closed_at, newer)
        return
    uow.deeds.mark_month(closure.unit, closure.month, None, None)
    back = []
    for deed in uow.deeds.of_status(list(closure.deed_ids), "in_round"):
        # The one move back a status makes: the round that took the deed never was (advance()
        # only moves on).
        changes: dict[str, Any] = {"status": "introduced"}
        if deed.carried_over:
            changes["carried_to"] = None
        uow.deeds.change(deed.id, **changes)
        back.append(deed.id)
    uow.audit([(audit.system("council"), "month.reopened_to_introductions", f"{closure.unit}:{closure.month}",
                closure.unit, {"round": msg.round_id, "deeds_back": len(back)})])


def deed_fate(uow: Work, msg: DeedFateDecided) -> None:
    """What a round made of a deed; a status never moves backwards (a late or stale message is
    ignored)."""
    deed = uow.deeds.get(msg.deed_id, lock=True)
    if deed is None:
        log.warning("deed_fate for unknown deed %s ignored", msg.deed_id)
        return
    status = advance(deed.status, msg.status)
    if status != deed.status:
        uow.deeds.change(deed.id, status=status)
        uow.audit([(audit.system("council"), "deed.status_changed", deed.id, deed.unit,
                    {"from": deed.status, "to": status, "round": msg.round_id})])


def deed_inscribed(uow: Work, msg: DeedInscribed) -> None:
    """A golden book holds an entry about the deed: list it once, and move the status on
    (recognised for the unit's book, inscribed for the provincial one)."""
    deed = uow.deeds.get(msg.deed_id, lock=True)
    if deed is None:
        log.warning("deed_inscribed for unknown deed %s ignored", msg.deed_id)
        return
    known = any(e.get("book") == msg.book and e.get("seq") == msg.seq for e in deed.book_entries)
    changes: dict[str, Any] = {}
    if not known:
        entry: dict[str, Any] = {"book": msg.book, "seq": msg.seq}
        if msg.kind != "inscription":
            entry["kind"] = msg.kind
        changes["book_entries"] = [*deed.book_entries, entry]
    implied = status_after_entry(deed.unit, msg.book, msg.kind)
    status = advance(deed.status, implied) if implied else deed.status
    if status != deed.status:
        changes["status"] = status
    if changes:
        uow.deeds.change(deed.id, **changes)
        uow.audit([(audit.system("book"), "deed.book_entry", deed.id, deed.unit,
                    {"book": msg.book, "seq": msg.seq, "kind": msg.kind, "from": deed.status, "to": status})])


# -- housekeeping --------------------------------------------------------------------------------
def purge_idempotency_records(uow: Work, ctx: Context, now: dt.datetime | None = None) -> int:
    """Forget Idempotency-Keys older than ``idempotency_ttl_hours`` (API.md: kept at least 24 h)."""
    return uow.purge_answers(now or ctx.now, ctx.settings.idempotency_ttl_hours)
