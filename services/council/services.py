"""The council's use cases, each ``fn(uow, ctx, actor, …)``: written in the unit of work their
entrypoint opened and commits (the web request, the message, the scheduled job, ``runs``).

Councils come from the organisation; rounds open (API.md), freeze their candidates and voter
rolls, take ballots while open (R18, R19, R19a), and close exactly once (R20), by their
secretary or by the sweep at their deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from services.council import queries, referral, reorganisation, revocation
from services.council.closing import tally_round
from services.council.config import config_of
from services.council.domain.ballots import Vote, ballot_errors, paper_errors, split_ballot
from services.council.domain.rounds import (
    CANCELLED,
    CLOSED,
    MONTHLY,
    OPEN,
    OPENABLE,
    OPENING,
    PROVINCIAL,
    QUARTERLY,
    SUPPLEMENTARY,
    Candidate,
    CouncilRules,
    PeriodError,
    Round,
    check_openable,
    entitled_members,
    latest_ended_month,
    latest_ended_quarter,
    parse_period,
)
from services.council.domain.tally import Tally
from services.council.repository import Taken
from services.council.work import Work
from shared import audit, clock
from shared.auth import Principal
from shared.clock import Month, Quarter
from shared.context import Context
from shared.db import utcnow
from shared.ids import new_id, receipt
from shared.messages import (
    CloseIntroductions,
    DeedIntroduced,
    DeedRecorded,
    DeedRevoked,
    DeedsRecorded,
    DossierSent,
    IntroductionsClosed,
    ReopenIntroductions,
)
from shared.org import Council, Organisation, OrgRefused
from shared.refusals import Conflict, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)
T = TypeVar("T")

SECRETARY_ROLES = ("unit_secretary", "province_secretary")
READER_ROLES = ("council_member", "unit_secretary", "province_secretary")


# -- the organisation ----------------------------------------------------------------------------
def check_org(uow: Work, ctx: Context, doc: dict[str, Any]) -> list[str]:
    """R25: why this organisation may not replace the loaded one here (it would orphan a round
    still open); empty when it may. Writes nothing."""
    return reorganisation.problems(uow.reading, Organisation.loadable(doc))


def load_org(uow: Work, ctx: Context, doc: dict[str, Any], actor: audit.Actor = audit.CLI,
             details: dict[str, Any] | None = None) -> bool:
    """Store the organisation and derive the councils and their members; the same document again
    changes nothing (False). Open rounds keep the rules and rolls frozen when they opened, less
    the members who left their council (R25, ``reorganisation``); a document that would orphan an
    open round is refused (``OrgRefused``) and nothing is written. ``actor`` and ``details`` go
    on its R23 line."""
    org = Organisation.loadable(doc)
    # Checked again under the open rounds' locks, in the transaction that loads it.
    found = reorganisation.problems(uow, org, lock=True)
    if found:
        raise OrgRefused(found)
    if not uow.keep_organisation(doc, actor, details):
        return False
    flags = _open_ballot_flags(doc) | config_of(ctx).open_ballot_councils
    uow.councils.replace(
        [CouncilRules(code=c.code, unit=c.unit, secretary=c.secretary, threshold_percent=c.threshold_percent,
                      base=c.base, cap=c.cap_per_quarter, open_ballots=c.code in flags)
         for c in org.councils.values()],
        [(c.code, member) for c in org.councils.values() for member in sorted(set(c.members))],
    )
    reorganisation.apply_rolls(uow, org)
    return True


def _open_ballot_flags(doc: dict[str, Any]) -> set[str]:
    found = []
    for c in [doc["province"]["council"], *(u["council"] for u in doc["units"])]:
        if c.get("open_ballots") is True:
            found.append(c["code"])
    return set(found)


def _org(ctx: Context) -> Organisation:
    return ctx.organisation


# -- who may do what -----------------------------------------------------------------------------
def _is_secretary(who: Principal, council: CouncilRules) -> bool:
    return council.led_by(who.role, who.subject)


def _may_read(repos: Any, who: Principal, council_code: str) -> bool:
    """Members of the council, its secretary, and the province secretary (who oversees all)."""
    if who.role == "province_secretary":
        return True
    council = repos.councils.get(council_code)
    if council is None:
        return False
    if who.role == "unit_secretary":
        return council.secretary == who.subject
    if who.role == "council_member":
        return repos.councils.has_member(council_code, who.subject)
    return False


def visible_councils(repos: Any, who: Principal) -> list[str] | None:
    """The councils whose rounds ``who`` may list; None for all."""
    if who.role == "province_secretary":
        return None
    if who.role == "unit_secretary":
        return repos.councils.of_secretary(who.subject)
    if who.role == "council_member":
        return repos.councils.of_member(who.subject)
    return []


# -- opening -------------------------------------------------------------------------------------
def open_round(uow: Work, ctx: Context, who: Principal, data: dict[str, Any],
               opened_by: str | None = None) -> str:
    """API.md ``POST /rounds``: a secretary opens a round of their council; candidates are frozen at
    opening (a monthly round freezes them when intake answers ``CloseIntroductions``). Returns the
    round's id.

    Its entrypoint waits around it (``runs``, the API's view): ``DossiersInFlight`` (R12) asks for
    the opening again in a new transaction once the worker received them, ``DOSSIER_WAIT_SECONDS``
    at most, then ``DossiersInFlight.refusal``; a monthly round opened by a secretary is committed,
    and the answer waits for intake's (``OPENING_WAIT_SECONDS``): ``empty_month`` when it had
    nothing introduced."""
    try:
        return _open_round(uow, ctx, who, data, opened_by)
    except Taken:
        # Two secretaries' requests at once: the other one opened it (unique natural key).
        raise Conflict(f"Hội đồng {data['council']} đã có phiên {data['kind']} cho kỳ {data['period']}.") from None


def empty_month(data: dict[str, Any]) -> Conflict:
    """API.md: a round with no candidate is 409. intake said the month had nothing introduced; the
    round was cancelled on that answer and the month takes introductions again."""
    return Conflict(f"Không có việc tốt nào được giới thiệu cho tháng {data['period']}: phiên không được mở.")


# A monthly round's candidates come from intake's answer (API.md, "opening"). The secretary's
# request waits this long for it, so that a month with nothing introduced is answered 409 as the
# other kinds are; a round still waiting after that is answered as it stands (``opening``).
OPENING_WAIT_SECONDS = 5.0
# With no relay moving the outbox (tests that hand messages over themselves, a broker that is
# down), the request does not wait for an answer that cannot come.
UNSENT_WAIT_SECONDS = 0.25


def opening_status(uow: Work, round_id: str) -> tuple[str, bool]:
    """A monthly round's status, and whether its ``CloseIntroductions`` still waits in the outbox
    (``runs.answered`` reads it until intake answered)."""
    rnd = uow.reading.rounds.get(round_id)
    assert rnd is not None
    return rnd.status, rnd.status == OPENING and uow.reading.rounds.asked_intake(round_id)


# R12: a provincial round's candidates are the dossiers received for its quarter. A quarterly
# round's close sends its dossiers as messages, which the council's worker receives a moment
# later: opening the provincial round in between would leave them out of it for good, so the
# opening is tried again, for up to this long, until none is on its way.
DOSSIER_WAIT_SECONDS = 10.0


class DossiersInFlight(Exception):
    """R12: dossiers of the quarter are on their way; nothing was written."""

    def __init__(self, pending: int) -> None:
        self.pending = pending

    def refusal(self, data: dict[str, Any]) -> Conflict:
        return Conflict(f"Còn {self.pending} hồ sơ đề nghị của quý {data['period']} đang được chuyển "
                        "đến Hội đồng cấp tỉnh; hãy mở phiên sau ít phút.")


def _open_round(uow: Work, ctx: Context, who: Principal, data: dict[str, Any], opened_by: str | None) -> str:
    org = _org(ctx)
    cfg = config_of(ctx)
    now = ctx.now
    kind = data["kind"]
    council = uow.councils.get(data["council"])
    if council is None:
        raise Invalid("Không có hội đồng này.", errors={"council": ["Không có hội đồng này."]})
    if not _is_secretary(who, council):
        raise Forbidden(f"Chỉ thư ký của {council.code} được mở phiên bỏ phiếu.")
    provincial = council.cap is not None
    if (kind == PROVINCIAL) != provincial:
        hint = "chỉ Hội đồng cấp tỉnh" if kind == PROVINCIAL else "Hội đồng cấp tỉnh chỉ mở phiên provincial"
        raise Invalid(f"Loại phiên không hợp với hội đồng: {hint}.", errors={"kind": [hint]})
    try:
        period = parse_period(kind, data["period"])
        check_openable(period, now, dt.date.fromisoformat(org.since))
    except PeriodError as exc:
        raise Invalid(str(exc), errors={"period": [str(exc)]}) from None
    closes_at = data.get("closes_at")
    if closes_at is not None and closes_at <= now:
        raise Invalid("Hạn đóng phiên phải ở tương lai.", errors={"closes_at": ["Phải ở tương lai."]})
    closes_at = closes_at or cfg.calendar.default_closes_at(kind, period, now)
    key = f"{council.code}:{kind}:{period}"
    if uow.rounds.by_key(key) is not None:
        raise Conflict(f"Hội đồng {council.code} đã có phiên {kind} cho kỳ {period}.")
    if kind == PROVINCIAL and (pending := uow.dossiers.in_flight(str(period))):
        raise DossiersInFlight(pending)  # before anything is written
    deeds = _candidates_for(uow, council, kind, period)
    if kind != MONTHLY and not deeds:
        raise Conflict(f"Không có ứng viên nào cho phiên {kind} kỳ {period}: phiên không được mở.")
    round_id = new_id()
    uow.rounds.add(Round(
        id=round_id, natural_key=key, council=council.code, unit=council.unit, kind=kind, period=str(period),
        status=OPENING if kind == MONTHLY else OPEN, opens_at=now, closes_at=closes_at, created_at=now,
        opened_by=opened_by or f"{who.role}:{who.subject}", runoff_of=None, places=None,
        threshold_percent=council.threshold_percent, base=council.base, cap=council.cap,
        open_ballots=council.open_ballots, entitled=len(uow.councils.members(council.code)), paper=False,
        paper_voters=None, paper_ballots=None, recorded=None, referred_from=None,
    ))
    actor = audit.system("calendar") if opened_by == "calendar" else who
    uow.audit([(actor, "round.opened", round_id, council.unit, {
        "council": council.code, "kind": kind, "period": str(period), "closes_at": clock.isoformat(closes_at),
        "candidates": None if kind == MONTHLY else len(deeds)})], at=now)
    if kind == MONTHLY:
        # API.md: intake closes the month to introductions and answers with the final list.
        uow.emit(CloseIntroductions(round_id=round_id, council=council.code, unit=council.unit, month=str(period)))
    else:
        _freeze(uow, round_id, council.code, deeds, org)
    return round_id


def _candidates_for(uow: Work, council: CouncilRules, kind: str,
                    period: Month | Quarter) -> list[tuple[dict, str | None]]:
    """The deeds a round of ``kind`` would put to the vote: (frozen copy, dossier id), never one
    whose recognition was revoked (R15a)."""
    found = _eligible(uow, council, kind, period)
    gone = uow.recognitions.revoked(deed["id"] for deed, _ in found)
    return [(deed, dossier) for deed, dossier in found if deed["id"] not in gone]


def _eligible(uow: Work, council: CouncilRules, kind: str, period: Month | Quarter) -> list[tuple[dict, str | None]]:
    if kind == SUPPLEMENTARY:
        # R9: once, for a month whose round closed with its quota unmet, before the quarter's round.
        monthly = uow.rounds.by_key(f"{council.code}:{MONTHLY}:{period}")
        tally = uow.outcomes.tally(monthly.id) if monthly is not None else None
        if tally is None:
            raise Conflict(f"Phiên tháng {period} chưa đóng: chưa thể mở phiên bổ sung.")
        if tally.quota_met:
            raise Conflict(f"Tháng {period} đã đạt chỉ tiêu: không có phiên bổ sung.")
        assert isinstance(period, Month)
        if uow.rounds.by_key(f"{council.code}:{QUARTERLY}:{period.quarter}") is not None:
            raise Conflict(f"Phiên quý {period.quarter} đã mở: không còn mở phiên bổ sung cho tháng {period}.")
        return [(c.deed, None) for c in uow.candidates.of(monthly.id)]
    if kind == QUARTERLY:
        # R11: the unit's deeds recognised in the quarter and not yet proposed.
        assert isinstance(period, Quarter)
        return [(deed, None) for deed in uow.recognitions.unproposed(council.unit, [str(m) for m in period.months])]
    if kind == PROVINCIAL:
        # R12: the dossiers received for the quarter.
        return list(uow.dossiers.of_quarter(str(period)))
    return []


def _freeze(uow: Work, round_id: str, council_code: str, deeds: list[tuple[dict, str | None]],
            org: Organisation) -> None:
    """Candidates and voter roll, frozen (R17: members minus those recused per deed).

    Each table is written with one multi-row INSERT: a provincial round freezes hundreds of
    candidates and thousands of entitlements, and a statement per row made opening it slow."""
    members = uow.councils.members(council_code)
    roll: set[str] = set()
    frozen: list[Candidate] = []
    entitled: list[tuple[str, str]] = []
    for position, (deed, dossier_id) in enumerate(deeds):
        cid = new_id()
        author = dict(deed["author"])
        frozen.append(Candidate(id=cid, round_id=round_id, position=position, deed_id=deed["id"],
                                title=deed["title"], author=author, unit=deed["unit"], deed=deed,
                                dossier_id=dossier_id))
        collective = org.collective_members(author["collective"]) if author.get("collective") else set()
        for member in entitled_members(members, author, collective):
            roll.add(member)
            entitled.append((member, cid))
    uow.candidates.add(round_id, frozen, entitled)
    uow.rounds.change(round_id, entitled=len(roll))


# -- the handshake with intake (API.md) ----------------------------------------------------------
def introductions_closed(uow: Work, ctx: Context, msg: IntroductionsClosed) -> None:
    """intake closed the month and sent the final list: freeze it and open the round for ballots.

    A round with no candidate is not opened (API.md): one the secretary opened is cancelled and the
    month reopened to introductions (their request answers 409); one the calendar opened closes
    at once, empty, its quota unmet, and causes no message. A second delivery changes nothing (the round is no longer ``opening``)."""
    now = ctx.now
    row = uow.rounds.get(msg.round_id, lock=True)
    if row is None or row.status != OPENING:
        log.info("introductions_closed for round %s in status %s: nothing to do",
                 msg.round_id, row.status if row else None)
        return
    try:
        org = ctx.organisation
    except Exception:
        raise RuntimeError("organisation not loaded") from None
    # R5a: deeds of earlier months introduced after their own round opened are carried into this one.
    deeds = [d for d in msg.deeds if d["unit"] == row.unit and d["month"] <= row.period]
    # R15a: a revoked recognition is never put to the vote again.
    gone = uow.recognitions.revoked(d["id"] for d in deeds)
    deeds = [d for d in deeds if d["id"] not in gone]
    if not deeds and row.opened_by not in ("calendar", "system"):
        # API.md: a round with no candidate is 409, so a secretary's round that found none never
        # was: cancelled (its period free to open again, by the secretary or the calendar: this is
        # no R20a cancellation) and the month given back to introductions.
        uow.rounds.change(row.id, status=CANCELLED, natural_key=f"{row.natural_key}#cancelled:{row.id}",
                          found_empty=True, recorded=msg.recorded, entitled=0)
        uow.emit(ReopenIntroductions(round_id=row.id, unit=row.unit, month=row.period))
        uow.audit([(audit.system("intake"), "round.cancelled", row.id, row.unit,
                    {"kind": row.kind, "period": row.period, "candidates": 0})], at=now)
        return
    uow.counts.track(((d["id"], d["unit"], d["month"]) for d in deeds), introduced=True)
    # R17a: what no member of the unit council may vote on goes to the provincial council, and
    # neither counts in nor holds up the unit's own round.
    deeds, undecidable = referral.split_undecidable(uow, row.council, deeds, org)
    if undecidable:
        referral.refer(uow, row, undecidable, org, now, config_of(ctx).calendar.late_round_hours)
    if not deeds:
        uow.rounds.change(row.id, status=CLOSED, recorded=msg.recorded, entitled=0)
        uow.outcomes.record(Tally(round_id=row.id, closed_at=now, closed_by="empty", voted=0, quota_met=False), [])
        uow.audit([(audit.system("intake"), "round.closed", row.id, row.unit,
                    {"closed_by": "empty", "candidates": 0, "quota_met": False})], at=now)
        return
    _freeze(uow, row.id, row.council, [(d, None) for d in deeds], org)
    uow.rounds.change(row.id, status=OPEN, recorded=msg.recorded)
    uow.audit([(audit.system("intake"), "round.candidates_frozen", row.id, row.unit,
                {"candidates": len(deeds), "recorded": msg.recorded})], at=now)


# -- R10 counts ----------------------------------------------------------------------------------
def deed_recorded(uow: Work, msg: DeedRecorded) -> None:
    """R10: one more deed recorded in that unit and month (the message of one deed, still understood
    when an outbox holds it)."""
    uow.counts.track([(msg.deed_id, msg.unit, msg.month)], introduced=False)


def deeds_recorded(uow: Work, msg: DeedsRecorded) -> None:
    """R10: deeds recorded together in one unit and month; those already known (told by a
    ``DeedRecorded`` or an earlier copy of this message) are not counted again."""
    uow.counts.track(((deed_id, msg.unit, msg.month) for deed_id in msg.deed_ids), introduced=False)


def deed_revoked(uow: Work, msg: DeedRevoked) -> None:
    """R15a: a golden book revoked the deed's recognition: withdrawn from the rounds still open,
    never put to the vote again, counted as revoked (once, whatever the redeliveries)."""
    withdrawn = revocation.apply(uow, msg, utcnow())
    if withdrawn:
        log.info("deed %s withdrawn from rounds %s (R15a)", msg.deed_id, withdrawn)


def deed_introduced(uow: Work, msg: DeedIntroduced) -> None:
    """R10: one more deed introduced (counted once whatever the order the messages arrive in)."""
    uow.counts.track([(msg.deed_id, msg.unit, msg.month)], introduced=True)


# -- ballots -------------------------------------------------------------------------------------
def dossier_sent(uow: Work, msg: DossierSent) -> None:
    """R11, R12: the provincial council receives a unit's proposal dossier, once per deed."""
    if uow.dossiers.received(msg.deed_id):
        return
    if uow.recognitions.revoked([msg.deed_id]):
        log.warning("dossier %s of deed %s refused: its recognition was revoked (R15a)", msg.dossier_id, msg.deed_id)
        return
    uow.dossiers.add(
        id=msg.dossier_id, deed_id=msg.deed_id, quarter=msg.quarter, unit=msg.unit,
        quarterly_round_id=msg.quarterly_round_id, deed=msg.deed, evidence=msg.evidence,
        monthly_decision=msg.monthly_decision, monthly_tally=msg.monthly_tally,
        quarterly_tally=msg.quarterly_tally, created_at=utcnow(),
    )
    uow.audit([(audit.system("council"), "dossier.received", msg.dossier_id, msg.unit,
                {"deed_id": msg.deed_id, "quarter": msg.quarter, "quarterly_round": msg.quarterly_round_id})])


def _open_for_ballots(row: Round, now: dt.datetime) -> None:
    if row.status == OPENING:
        raise Conflict("Phiên chưa mở: hội đồng đang chờ danh sách ứng viên.")
    if row.status == CLOSED:
        raise Conflict("Phiên đã đóng: không nhận phiếu.")
    if row.status == CANCELLED:
        raise Conflict("Phiên đã bị huỷ: không nhận phiếu.")
    if now >= row.closes_at:
        # R20: a ballot counts only if received before the deadline, swept or not.
        raise Conflict("Đã quá hạn bỏ phiếu của phiên.")


def cast_ballot(uow: Work, ctx: Context, who: Principal, round_id: str,
                choices: dict[str, str] | Callable[[], dict[str, str]]) -> dict[str, str]:
    """R18, R19: one final ballot per member per open round, on exactly the candidates the member
    is entitled to; who voted is stored apart from how, and the voter gets a random receipt.

    ``choices`` may be a function that reads them from the request, so that a malformed body is
    judged only once the round is known to exist and the voter to be a member (404, 403 first)."""
    now = ctx.now
    try:
        row = uow.rounds.get(round_id, lock=True)
        if row is None:
            raise NotFound("Không có phiên bỏ phiếu này.")
        member = who.role == "council_member" and (
            uow.councils.has_member(row.council, who.subject)
            or bool(uow.candidates.entitled_to(row.id, who.subject))
        )
        if not member:
            raise Forbidden(f"Chỉ thành viên của {row.council} được bỏ phiếu trong phiên này.")
        if callable(choices):
            choices = choices()
        _open_for_ballots(row, now)
        if row.paper:
            raise Conflict("Phiên này đã kiểm phiếu giấy: không nhận phiếu điện tử.")
        if uow.ballots.has_voted(row.id, who.subject):
            raise Conflict("Thành viên đã bỏ phiếu trong phiên này; phiếu đã bỏ là cuối cùng.")
        # R15a: a withdrawn candidate is voted on no more (entitled_to leaves it out).
        entitled_to = uow.candidates.entitled_to(row.id, who.subject)
        if not entitled_to:
            raise Conflict("Thành viên không có quyền bỏ phiếu cho ứng viên nào của phiên này (R17).")
        errors = ballot_errors(choices, entitled_to)
        if errors:
            raise Invalid("Phiếu phải có đúng một lựa chọn cho mỗi ứng viên mà thành viên được bỏ phiếu.",
                          errors={"choices": errors})
        codes, cast = _split_ballots(uow, row, [dict(choices)], who.subject if row.open_ballots else None)
        # R19: the ballot's votes and the mark that this member voted share this transaction
        # but nothing a reader of the tables could pair: no time, no serial id, no rowid, and
        # the reshuffle rewrites every row of the round in both tables in key order, so on
        # PostgreSQL they all carry this transaction's id and sit in key order (orm's notes).
        # One transaction is what makes it safe: the mark without the votes (a lost ballot) or
        # the votes without the mark (a second ballot) can never be committed.
        uow.ballots.cast(row.id, cast, who.subject)
    except Taken:
        # The same member casting twice at the same moment: the other ballot won.
        raise Conflict("Thành viên đã bỏ phiếu trong phiên này; phiếu đã bỏ là cuối cùng.") from None
    return {"receipt": codes[0]}


def _split_ballots(uow: Work, row: Round, papers: list[dict[str, str]],
                   voter: str | None) -> tuple[list[str], list[Vote]]:
    """R19: fresh random receipts for ballots, and the rows of their votes, each under its own
    receipt derived from its ballot's; no vote receipt may repeat one already in the round (a
    ballot whose votes would collide gets another receipt). The ballots' receipts are not stored."""
    taken = uow.ballots.receipts(row.id)
    codes: list[str] = []
    cast: list[Vote] = []
    for choices in papers:
        while True:
            code = receipt()
            split = split_ballot(code, choices)
            mine = {r for r, _, _ in split}
            if len(mine) == len(split) and not mine & taken:
                break
        taken |= mine
        codes.append(code)
        cast.extend(Vote(round_id=row.id, receipt=r, candidate_id=cid, choice=choice, voter=voter)
                    for r, cid, choice in split)
    return codes, cast


def enter_paper_ballots(uow: Work, ctx: Context, who: Principal, round_id: str, voters_count: int,
                        papers: list[dict[str, str]]) -> dict[str, Any]:
    """R19a, R20a: the secretary enters the counted paper ballots of a council that met in person;
    they must reconcile with the members who took a ballot and with the entitled. Entered again
    before the close, the new count replaces the old one whole. Each paper ballot gets a receipt
    of its own, split into its votes as an electronic ballot is (R19); the answer is the votes as
    they will be published, never a ballot's votes together."""
    now = ctx.now
    row = uow.rounds.get(round_id, lock=True)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    council = uow.councils.get(row.council)
    if council is None or not _is_secretary(who, council):
        raise Forbidden(f"Chỉ thư ký của {row.council} được nhập phiếu giấy.")
    _open_for_ballots(row, now)
    if not row.paper and uow.ballots.count(row):
        raise Conflict("Phiên đã có phiếu điện tử: không nhập phiếu giấy được nữa.")
    errors = paper_errors(voters_count, papers, row.entitled, uow.candidates.entitled_counts(row.id))
    if errors:
        raise Invalid("Số phiếu không khớp (R19a).", errors=errors)
    if row.paper:
        # R20a: a corrected count replaces the old one whole.
        uow.ballots.drop_votes(row.id)
    _, cast = _split_ballots(uow, row, [dict(choices) for choices in papers], None)
    uow.rounds.change(row.id, paper=True, paper_voters=voters_count, paper_ballots=len(papers))
    uow.ballots.cast(row.id, cast, None)
    uow.audit([(who, "round.paper_count", row.id, row.unit,
                {"voters": voters_count, "ballots": len(papers), "replaces_earlier_count": bool(row.paper)})], at=now)
    published = sorted(({"receipt": v.receipt, "choices": {v.candidate_id: v.choice}} for v in cast),
                       key=lambda b: b["receipt"])
    return {"round": round_id, "voters": voters_count, "ballots": published}


# -- the secretary runs the round (R20a) ----------------------------------------------------------
# Each state change below is one use case, so that recording it (R23) is one line in one place.
def _secretarys_round(uow: Work, who: Principal, round_id: str, doing: str) -> Round:
    """The round, locked, if ``who`` is its council's secretary (404, 403 otherwise)."""
    row = uow.rounds.get(round_id, lock=True)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    council = uow.councils.get(row.council)
    if council is None or not _is_secretary(who, council):
        raise Forbidden(f"Chỉ thư ký của {row.council} được {doing}.")
    return row


def _still_live(row: Round) -> None:
    if row.status == CLOSED:
        raise Conflict("Phiên đã đóng; không thay đổi được nữa.")
    if row.status == CANCELLED:
        raise Conflict("Phiên đã bị huỷ; không thay đổi được nữa.")


def move_deadline(uow: Work, ctx: Context, who: Principal, round_id: str, closes_at: dt.datetime) -> dict:
    """R20a, API.md ``PATCH /rounds/{id}``: the secretary moves the deadline of a round still
    open (409 once closed or cancelled; 422 a deadline not in the future). A deadline already
    passed but not yet swept is past: the round closes at its sweep, as R20 says."""
    now = ctx.now
    row = _secretarys_round(uow, who, round_id, "dời hạn đóng phiên")
    _still_live(row)
    if row.closes_at <= now:
        raise Conflict("Đã quá hạn bỏ phiếu của phiên: phiên sẽ đóng, không dời hạn được nữa (R20).")
    if closes_at <= now:
        raise Invalid("Hạn đóng phiên phải ở tương lai.", errors={"closes_at": ["Phải ở tương lai."]})
    uow.rounds.change(row.id, closes_at=closes_at)
    uow.audit([(who, "round.deadline_moved", row.id, row.unit,
                {"from": clock.isoformat(row.closes_at), "to": clock.isoformat(closes_at)})], at=now)
    return round_view(uow, round_id)


def cancel_round(uow: Work, ctx: Context, who: Principal, round_id: str) -> dict:
    """R20a, API.md ``POST /rounds/{id}/cancel``: a round opened by mistake is cancelled before
    any ballot is cast (409 after one, paper or electronic, and once closed or cancelled). Its
    candidates go back as they were: the period's natural key is freed, so the same round can be
    opened anew; a monthly round tells intake to take introductions for the month again and to
    put its deeds back (``ReopenIntroductions``, in this transaction); a quarterly round's
    recognitions and a provincial round's dossiers were never marked taken before a close, so
    they are free once the round is out of the way. Rounds the system opens for a close (runoffs)
    are part of that close and cannot be cancelled."""
    row = _secretarys_round(uow, who, round_id, "huỷ phiên")
    _still_live(row)
    if row.kind not in OPENABLE:
        raise Conflict("Phiên do hệ thống mở khi đóng một phiên khác (R13) không huỷ được.")
    if row.status == OPENING:
        raise Conflict("Phiên đang chờ danh sách ứng viên từ bộ phận tiếp nhận; hãy huỷ khi phiên đã mở.")
    if row.paper or uow.ballots.count(row):
        raise Conflict("Phiên đã có phiếu: không huỷ được nữa (R20a).")
    if not uow.rounds.cancel_if_open(row.id, f"{row.natural_key}#cancelled:{row.id}"):
        raise Conflict("Phiên vừa thay đổi trạng thái; hãy tải lại.")
    if row.kind == MONTHLY:
        uow.emit(ReopenIntroductions(round_id=row.id, unit=row.unit, month=row.period))
    uow.audit([(who, "round.cancelled", row.id, row.unit, {"kind": row.kind, "period": row.period})])
    return round_view(uow, round_id)


# -- closing (R20) -------------------------------------------------------------------------------
def close_round(uow: Work, ctx: Context, who: Principal, round_id: str) -> dict:
    """R20: the secretary closes a round early once every entitled member has voted, or at any time
    once its deadline has passed; exactly once (409 if already closed, the result unchanged).
    A decision number lost to a concurrent close raises ``IntegrityError``: its entrypoint runs
    it again in a new transaction (``runs.retrying``)."""
    now = ctx.now
    org = _org(ctx)
    cfg = config_of(ctx)
    row = uow.rounds.get(round_id)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    council = uow.councils.get(row.council)
    if council is None or not _is_secretary(who, council):
        raise Forbidden(f"Chỉ thư ký của {row.council} được đóng phiên.")
    if row.status == CLOSED:
        raise Conflict("Phiên đã đóng; kết quả giữ nguyên.")
    if row.status == CANCELLED:
        raise Conflict("Phiên đã bị huỷ: không có gì để đóng.")
    if row.status == OPENING:
        raise Conflict("Phiên chưa mở: hội đồng đang chờ danh sách ứng viên.")
    if now < row.closes_at and not row.paper and uow.ballots.count(row) < row.entitled:
        raise Conflict("Chưa đến hạn và còn thành viên có quyền chưa bỏ phiếu (R20).")
    if not uow.rounds.close_if_open(row.id):
        raise Conflict("Phiên đã đóng; kết quả giữ nguyên.")
    closed = tally_round(uow, row, now, "secretary", org, cfg.calendar.runoff_hours)
    _audit_close(uow, who, row, closed, now)
    return queries.closed_result(row, *closed)


def _audit_close(uow: Work, who: audit.Actor, row: Round, closed: Any, now: dt.datetime) -> None:
    """R23 for a close: the close itself, the runoff it opened, and — R19 — that each member who
    voted did, stamped with the close rather than the ballot (no instant orders the voters or
    tells the secretary who had voted while the round was open, R20a), read from the voters
    table, which says nothing of choices."""
    uow.audit([(who, "round.closed", row.id, row.unit, {
        "closed_by": "secretary" if who.role != audit.SYSTEM else "schedule",
        "decision": closed.decision, "runoff": closed.runoff, "quota_met": closed.quota_met,
        "selected": sum(1 for _, counted in closed.counted if counted.selected),
    })], at=now)
    if closed.runoff:
        uow.audit([(audit.system("council"), "round.opened", closed.runoff, row.unit,
                    {"council": row.council, "kind": "runoff", "period": row.period, "runoff_of": row.id})], at=now)
    uow.audit([(Principal("council_member", m), "ballot.cast", row.id, row.unit, {})
               for m in uow.ballots.voters(row.id)], at=now)


def due_rounds(uow: Work, ctx: Context) -> list[str]:
    """R20: the open rounds past their deadline, the earliest first (the beat's sweep closes each
    with ``close_due``, so a beat that was down catches up)."""
    return uow.reading.rounds.due(ctx.now)


def close_due(uow: Work, ctx: Context, round_id: str) -> bool:
    """R20: close a round past its deadline, exactly once whatever the duplicate triggers and
    workers (False when another one did). As ``close_round``, ``IntegrityError`` asks for it again."""
    if not uow.rounds.close_if_open(round_id, due_by=ctx.now):
        return False
    row = uow.rounds.get(round_id)
    assert row is not None
    closed = tally_round(uow, row, ctx.now, "schedule", _org(ctx), config_of(ctx).calendar.runoff_hours)
    _audit_close(uow, audit.system("schedule"), row, closed, ctx.now)
    return True


def forget_ballot_requests(uow: Work, ctx: Context) -> int:
    """Drop the sealed Idempotency-Key answers of ballots once the idempotency window is over."""
    return uow.ballots.forget_answers(ctx.now - dt.timedelta(hours=ctx.settings.idempotency_ttl_hours))


# -- R21: the calendar ---------------------------------------------------------------------------
def due_openings(uow: Work, ctx: Context, council: Council) -> list[tuple[Principal, dict[str, str]]]:
    """R21 (when ``SOVANG_CALENDAR`` is on): the rounds of ``council`` the calendar opens now, as
    (in the name of, ``open_round``'s data): after a month ends, a unit's monthly round; after a
    quarter's last monthly round closes, its quarterly round (if it has candidates); after the
    quarterly rounds' deadline, the provincial round (if dossiers came). Asked council by council,
    each after the rounds of the one before were opened (a quarterly round still open holds the
    provincial one back)."""
    now = ctx.now
    org = ctx.organisation
    s = uow.reading
    due: list[tuple[Principal, dict[str, str]]] = []
    month = latest_ended_month(now)
    quarter = latest_ended_quarter(now)
    since = Month.of(dt.date.fromisoformat(org.since))
    system = Principal("province_secretary" if council.provincial else "unit_secretary", council.secretary)
    wanted: list[tuple[str, str]] = []
    if council.provincial:
        quarterly_due = clock.quarterly_round_closes_at(quarter, ctx.settings.quarterly_close_day)
        if now >= quarterly_due and not _quarterly_rounds_pending(s, quarter):
            wanted.append((PROVINCIAL, str(quarter)))
    else:
        if month >= since:
            wanted.append((MONTHLY, str(month)))
        if _month_settled(s, council.code, quarter.last_month):
            wanted.append((QUARTERLY, str(quarter)))
    for kind, period in wanted:
        if s.rounds.by_key(f"{council.code}:{kind}:{period}") is not None:
            continue
        if s.rounds.cancelled_by_secretary(council.code, kind, period):
            # R20a: its secretary cancelled it; opening it anew is theirs to do.
            continue
        due.append((system, {"council": council.code, "kind": kind, "period": period}))
    return due


def _month_settled(s: Any, council: str, month: Month) -> bool:
    """R21: the quarter's last monthly round (and its supplementary one, if any) has closed."""
    monthly = s.rounds.by_key(f"{council}:{MONTHLY}:{month}")
    supplementary = s.rounds.by_key(f"{council}:{SUPPLEMENTARY}:{month}")
    return monthly is not None and monthly.status == CLOSED and (supplementary is None or supplementary.status == CLOSED)


def _quarterly_rounds_pending(s: Any, quarter: Quarter) -> bool:
    return s.rounds.quarterly_pending(str(quarter))


# -- reading -------------------------------------------------------------------------------------
def round_view(uow: Work, round_id: str) -> dict:
    """The round as API.md shows it, as this transaction sees it."""
    s = uow.reading
    row = s.rounds.get(round_id)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    return s.views.round(row)


def read_round(uow: Work, ctx: Context, who: Principal, round_id: str) -> dict:
    s = uow.reading
    row = s.rounds.get(round_id)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    if not _may_read(s, who, row.council):
        raise Forbidden(f"Chỉ thành viên và thư ký của {row.council} được xem phiên này.")
    return s.views.round(row)


def list_rounds(uow: Work, ctx: Context, who: Principal, filters: dict[str, str], limit: int,
                after: Any) -> list[dict]:
    """Up to ``limit + 1`` rounds ``who`` may see, oldest first, after the cursor's id."""
    s = uow.reading
    visible = visible_councils(s, who)
    if "council" in filters and visible is not None and filters["council"] not in visible:
        raise Forbidden(f"Chỉ thành viên và thư ký của {filters['council']} được xem các phiên của hội đồng này.")
    if after is not None and not isinstance(after, str):
        raise Invalid("cursor không hợp lệ.", errors={"cursor": ["Không hợp lệ."]})
    return [s.views.round(r) for r in s.rounds.page(visible, filters, limit + 1, after)]


def read_result(uow: Work, ctx: Context, who_of: Callable[[], Principal], round_id: str) -> dict:
    """Result: public once the round is closed; before, members and secretaries see it without counts."""
    s = uow.reading
    row = s.rounds.get(round_id)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    if row.status != CLOSED and not _may_read(s, who_of(), row.council):
        raise Forbidden(f"Chỉ thành viên và thư ký của {row.council} được xem kết quả trước khi phiên đóng.")
    return s.views.result(row)


def minutes_data(uow: Work, ctx: Context, who_of: Callable[[], Principal], round_id: str) -> dict[str, Any]:
    """What the counting minutes (biên bản kiểm phiếu) of a closed round say. R16: they name every
    candidate, rejected ones too, so only the council's members, its secretary and the province
    secretary may read them, closed or not (401 without a token, 403 for anyone else)."""
    org = _org(ctx)
    who = who_of()
    s = uow.reading
    row = s.rounds.get(round_id)
    if row is None:
        raise NotFound("Không có phiên bỏ phiếu này.")
    if not _may_read(s, who, row.council):
        raise Forbidden(f"Chỉ thành viên, thư ký của {row.council} và thư ký Công an tỉnh được xem "
                           "biên bản kiểm phiếu (R16).")
    if row.status != CLOSED:
        raise Conflict("Biên bản kiểm phiếu chỉ có khi phiên đã đóng.")
    tally = s.outcomes.tally(round_id)
    return {
        "round": s.views.round(row),
        "result": s.views.result(row),
        "council_name": f"Hội đồng xét việc tốt vì Nhân dân {org.unit_name(row.unit)}",
        "unit_name": org.unit_name(row.unit),
        "threshold_percent": row.threshold_percent,
        "base": row.base,
        "paper": row.paper,
        "paper_voters": row.paper_voters,
        "closed_at": clock.isoformat(tally.closed_at) if tally else None,
        "closed_by": tally.closed_by if tally else None,
    }


def monthly_report(uow: Work, ctx: Context, who: Principal, month: str) -> list[dict[str, Any]]:
    """R10: the province secretary sees every unit, a unit secretary their own."""
    org = _org(ctx)
    if who.role == "province_secretary":
        units = list(org.units)
    else:
        unit = org.unit_led_by(who.subject)
        if unit is None:
            raise Forbidden("Không phải thư ký của đơn vị nào.")
        units = [unit]
    s = uow.reading
    if who.role == "province_secretary":
        # R25: a unit dissolved since keeps its rows for the months it had.
        units += s.views.units_with_month(month, exclude=set(units) | {org.province_code})
    return s.views.monthly_summary(units, month)
