"""``/api/v1/rounds``: open, read, vote, count paper ballots, close, results and minutes."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

from flask import Blueprint, Response, current_app, g, jsonify, request

from services.council import documents, minutes, records, services
from services.council.api.sealed import BALLOTS
from services.council.schemas import BallotIn, MoveDeadlineIn, OpenRoundIn, PaperBallotsIn, RoundQuery
from shared.auth import principal
from shared.db import Database
from shared.endpoint import idempotent
from shared.http import ID, json_body, load, page, page_params
from shared.ratelimit import limit_render
from shared.runtime import Runtime

bp = Blueprint("council_rounds", __name__, url_prefix="/api/v1/rounds")


def _runtime() -> Runtime:
    return current_app.extensions["sovang"]


def _db() -> Database:
    return _runtime().db


@bp.get("")
def list_rounds() -> Response:
    who = principal(_db(), *services.READER_ROLES)
    limit, after = page_params(kind=ID)
    filters = load(RoundQuery(), request.args.to_dict())
    filters.pop("limit", None)
    filters.pop("cursor", None)
    items = services.list_rounds(_runtime(), who, filters, limit, after)
    return jsonify(page(items, limit, key=lambda r: r["id"]))


@bp.post("")
def open_round() -> tuple[Response, int]:
    principal(_db(), *services.SECRETARY_ROLES)
    return _open_round()


@idempotent()
def _open_round() -> tuple[Response, int]:
    data = load(OpenRoundIn(), json_body())
    return jsonify(services.open_round(_runtime(), g.principal, data)), 201


@bp.get("/<round_id>")
def read_round(round_id: str) -> Response:
    who = principal(_db(), *services.READER_ROLES)
    return jsonify(services.read_round(_runtime(), who, round_id))


@bp.patch("/<round_id>")
def move_deadline(round_id: str) -> Response:
    """R20a: the secretary moves the deadline of a round still open."""
    who = principal(_db(), *services.SECRETARY_ROLES)
    data = load(MoveDeadlineIn(), json_body())
    return jsonify(services.move_deadline(_runtime(), who, round_id, data["closes_at"]))


@bp.post("/<round_id>/cancel")
def cancel_round(round_id: str) -> Response:
    principal(_db(), *services.SECRETARY_ROLES)
    return _cancel_round(round_id)


@idempotent()
def _cancel_round(round_id: str) -> Response:
    """R20a: the secretary cancels a round opened by mistake, before any ballot."""
    return jsonify(services.cancel_round(_runtime(), g.principal, round_id))


@bp.post("/<round_id>/ballots")
def cast_ballot(round_id: str) -> tuple[Response, int]:
    principal(_db())
    return _cast_ballot(round_id)


@idempotent(BALLOTS)
def _cast_ballot(round_id: str) -> tuple[Response, int]:
    body = json_body()
    receipt = services.cast_ballot(_runtime(), g.principal, round_id, lambda: load(BallotIn(), body)["choices"])
    return jsonify(receipt), 201


@bp.post("/<round_id>/paper-ballots")
def enter_paper_ballots(round_id: str) -> tuple[Response, int]:
    principal(_db(), *services.SECRETARY_ROLES)
    return _enter_paper_ballots(round_id)


@idempotent()
def _enter_paper_ballots(round_id: str) -> tuple[Response, int]:
    data = load(PaperBallotsIn(), json_body())
    papers = [b["choices"] for b in data["ballots"]]
    return jsonify(services.enter_paper_ballots(_runtime(), g.principal, round_id, data["voters"], papers)), 201


@bp.post("/<round_id>/close")
def close_round(round_id: str) -> Response:
    principal(_db(), *services.SECRETARY_ROLES)
    return _close_round(round_id)


@idempotent()
def _close_round(round_id: str) -> Response:
    return jsonify(services.close_round(_runtime(), g.principal, round_id))


@bp.get("/<round_id>/result")
def read_result(round_id: str) -> Response:
    return jsonify(services.read_result(_runtime(), lambda: principal(_db(), *services.READER_ROLES), round_id))


@bp.get("/<round_id>/minutes.pdf")
def read_minutes(round_id: str) -> Response:
    data = services.minutes_data(_runtime(), lambda: principal(_db(), *services.READER_ROLES), round_id)
    pdf = _minutes_pdf(data)
    return Response(
        pdf, mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="bien-ban-kiem-phieu-{round_id}.pdf"'},
    )


@bp.get("/<round_id>/decision.pdf")
def read_decision(round_id: str) -> Response:
    """R8, R14: the recognition decision, public once the round closed having recognised a deed."""
    data = records.decision_data(_runtime(), round_id)
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
