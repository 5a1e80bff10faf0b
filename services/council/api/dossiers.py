"""``/api/v1/dossiers``: R11, the proposal dossiers units send the provincial council, as JSON
and as the printed document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from services.council import documents, records
from shared.auth import principal
from shared.cursors import page, page_params
from shared.runtime import Runtime

bp = Blueprint("council_dossiers", __name__, url_prefix="/api/v1/dossiers")
READERS = ("unit_secretary", "province_secretary", "council_member")


def _runtime() -> Runtime:
    return current_app.extensions["sovang"]


@bp.get("")
def list_dossiers() -> Response:
    who = principal(_runtime().db, *READERS)
    limit, after = page_params(kind=(str, str, str))
    items = records.list_dossiers(_runtime(), who, request.args.get("quarter"), request.args.get("unit"), limit, after)
    return jsonify(page(items, limit, key=lambda d: [d["quarter"], d["unit"], d["id"]]))


@bp.get("/<dossier_id>.pdf")
def read_dossier_pdf(dossier_id: str) -> Response:
    who = principal(_runtime().db, *READERS)
    data = records.dossier_document(_runtime(), who, dossier_id)
    return Response(
        documents.render_dossier(data), mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="ho-so-de-nghi-{dossier_id}.pdf"'},
    )


@bp.get("/<dossier_id>")
def read_dossier(dossier_id: str) -> Response:
    who = principal(_runtime().db, *READERS)
    return jsonify(records.read_dossier(_runtime(), who, dossier_id))
