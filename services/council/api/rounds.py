"""``/api/v1/rounds``: open, read, vote, count paper ballots, close, results and minutes."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from services.council import documents, minutes, records, runs, services
from services.council.api.sealed import BALLOTS
from services.council.domain.rounds import CANCELLED, MONTHLY
from services.council.schemas import BallotIn, MoveDeadlineIn, OpenRoundIn, PaperBallotsIn, RoundQuery
from shared.auth import Principal
from shared.bodies import json_body, load, page_params
from shared.context import Context
from shared.cursors import ID, page
from shared.db import UnitOfWork
from shared.endpoint import Again, endpoint
from shared.problems import Problem
from shared.ratelimit import limit_render

bp = Blueprint("council_rounds", __name__, url_prefix="/api/v1/rounds")
_round_query = RoundQuery()
_open_round_in = OpenRoundIn()
_move_deadline_in = MoveDeadlineIn()
_ballot_in = BallotIn()
_paper_ballots_in = PaperBallotsIn()


@bp.get("")
@endpoint(*services.READER_ROLES, read_only=True)
def list_rounds(uow: UnitOfWork, ctx: Context, who: Principal) -> Response:
    limit, after = page_params(kind=ID)
    filters = load(_round_query, request.args.to_dict())
    filters.pop("limit", None)
    filters.pop("cursor", None)
    items = services.list_rounds(uow, ctx, who, filters, limit, after)
    return jsonify(page(items, limit, key=lambda r: r["id"]))


@bp.post("")
@endpoint(*services.SECRETARY_ROLES, idempotent=True)
def open_round(uow: UnitOfWork, ctx: Context, who: Principal) -> Any:
    data = load(_open_round_in, json_body())
    # R12: tried again, each time in a new transaction, while dossiers are on their way.
    started = g.setdefault("council_opening_since", time.monotonic())
    try:
        round_id = services.open_round(uow, ctx, who, data)
    except services.DossiersInFlight as exc:
        if time.monotonic() - started > services.DOSSIER_WAIT_SECONDS:
            raise exc.refusal(data) from None
        raise Again from None
    if data["kind"] == MONTHLY:
        # intake answers a monthly round's opening once it is committed (API.md, "opening"): the
        # round, and the key's claim with it, are committed, and the answer waits for intake's.
        # A month with nothing introduced is then answered 409, kept under the key as any answer.
        uow.commit()
        if runs.answered(uow, round_id) == CANCELLED:
            return Problem.of(services.empty_month(data)).response()
    return jsonify(services.round_view(uow, round_id)), 201


@bp.get("/<round_id>")
@endpoint(*services.READER_ROLES, read_only=True)
def read_round(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> Response:
    return jsonify(services.read_round(uow, ctx, who, round_id))


@bp.patch("/<round_id>")
@endpoint(*services.SECRETARY_ROLES)
def move_deadline(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> Response:
    """R20a: the secretary moves the deadline of a round still open."""
    data = load(_move_deadline_in, json_body())
    return jsonify(services.move_deadline(uow, ctx, who, round_id, data["closes_at"]))


@bp.post("/<round_id>/cancel")
@endpoint(*services.SECRETARY_ROLES, idempotent=True)
def cancel_round(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> Response:
    """R20a: the secretary cancels a round opened by mistake, before any ballot."""
    return jsonify(services.cancel_round(uow, ctx, who, round_id))


@bp.post("/<round_id>/ballots")
@endpoint(idempotent=True, answers=BALLOTS)
def cast_ballot(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> tuple[Response, int]:
    body = json_body()
    receipt = services.cast_ballot(uow, ctx, who, round_id, lambda: load(_ballot_in, body)["choices"])
    return jsonify(receipt), 201


@bp.post("/<round_id>/paper-ballots")
@endpoint(*services.SECRETARY_ROLES, idempotent=True)
def enter_paper_ballots(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> tuple[Response, int]:
    data = load(_paper_ballots_in, json_body())
    papers = [b["choices"] for b in data["ballots"]]
    return jsonify(services.enter_paper_ballots(uow, ctx, who, round_id, data["voters"], papers)), 201


@bp.post("/<round_id>/close")
@endpoint(*services.SECRETARY_ROLES, idempotent=True)
def close_round(uow: UnitOfWork, ctx: Context, who: Principal, round_id: str) -> Response:
    try:
        return jsonify(services.close_round(uow, ctx, who, round_id))
    except IntegrityError:
        # A decision number taken by a concurrent close: the close again, in a new transaction.
        g.council_close_tries = g.get("council_close_tries", 1) + 1
        if g.council_close_tries > runs.TRIES:
            raise
        raise Again from None


@bp.get("/<round_id>/result")
@endpoint(*services.READER_ROLES, public=True, read_only=True)
def read_result(uow: UnitOfWork, ctx: Context, who_of: Callable[[], Principal], round_id: str) -> Response:
    """Public once the round is closed: who asks is asked for only before (``services.read_result``)."""
    return jsonify(services.read_result(uow, ctx, who_of, round_id))


@bp.get("/<round_id>/minutes.pdf")
@endpoint(*services.READER_ROLES, public=True, read_only=True)
def read_minutes(uow: UnitOfWork, ctx: Context, who_of: Callable[[], Principal], round_id: str) -> Response:
    data = services.minutes_data(uow, ctx, who_of, round_id)
    pdf = _minutes_pdf(data)
    return Response(
        pdf, mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="bien-ban-kiem-phieu-{round_id}.pdf"'},
    )


@bp.get("/<round_id>/decision.pdf")
@endpoint(public=True, read_only=True)
def read_decision(uow: UnitOfWork, ctx: Context, _who_of: Callable[[], Principal], round_id: str) -> Response:
    """R8, R14: the recognition decision, public once the round closed having recognised a deed."""
    data = records.decision_data(uow, ctx, round_id)
    return Response(
        documents.render_decision(data), mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="quyet-dinh-{round_id}.pdf"'},
    )


# Minutes rendered lately, by what they say: a closed round's minutes do not change, so each is
# rendered once per process and served as kept afterwards (bounded: the newest few).
_KEPT_MINUTES: OrderedDict[str, bytes] = OrderedDict()
_KEPT_MAX = 64
_kept_lock = threading.Lock()


def _minutes_pdf(data: dict) -> bytes:
    key = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    with _kept_lock:
        pdf = _KEPT_MINUTES.get(key)
        if pdf is not None:
            _KEPT_MINUTES.move_to_end(key)
            return pdf
    limit_render()
    pdf = minutes.render(data)
    with _kept_lock:
        _KEPT_MINUTES[key] = pdf
        while len(_KEPT_MINUTES) > _KEPT_MAX:
            _KEPT_MINUTES.popitem(last=False)
    return pdf
