"""``/api/v1/dossiers``: R11, the proposal dossiers units send the provincial council, as JSON
and as the printed document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from services.council import documents, records
from shared.auth import Principal
from shared.bodies import page_params
from shared.context import Context
from shared.cursors import page
from shared.db import UnitOfWork
from shared.endpoint import endpoint

bp = Blueprint("council_dossiers", __name__, url_prefix="/api/v1/dossiers")
READERS = ("unit_secretary", "province_secretary", "council_member")


@bp.get("")
@endpoint(*READERS, read_only=True)
def list_dossiers(uow: UnitOfWork, ctx: Context, who: Principal) -> Response:
    limit, after = page_params(kind=(str, str, str))
    items = records.list_dossiers(uow, ctx, who, request.args.get("quarter"), request.args.get("unit"), limit, after)
    return jsonify(page(items, limit, key=records.dossier_key))


@bp.get("/<dossier_id>.pdf")
@endpoint(*READERS, read_only=True)
def read_dossier_pdf(uow: UnitOfWork, ctx: Context, who: Principal, dossier_id: str) -> Response:
    data = records.dossier_document(uow, ctx, who, dossier_id)
    return Response(
        documents.render_dossier(data), mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="ho-so-de-nghi-{dossier_id}.pdf"'},
    )


@bp.get("/<dossier_id>")
@endpoint(*READERS, read_only=True)
def read_dossier(uow: UnitOfWork, ctx: Context, who: Principal, dossier_id: str) -> Response:
    return jsonify(records.read_dossier(uow, ctx, who, dossier_id))
