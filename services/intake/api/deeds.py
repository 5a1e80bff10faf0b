"""The intake paths of API.md: deeds, their introduction and their evidence."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from services.intake import schemas, services
from services.intake.domain.evidence import EXTENSIONS
from services.intake.domain.scope import Actor
from services.intake.ratelimit import retry_after
from services.intake.repository import Work
from shared.auth import Principal
from shared.bodies import bound_chunked_body, json_body, load, page_params
from shared.context import Context
from shared.cursors import ID, page
from shared.endpoint import endpoint, request_work
from shared.problems import Problem
from shared.refusals import Refused
from shared.request_auth import principal
from shared.runtime import Runtime

bp = Blueprint("intake", __name__, url_prefix="/api/v1/deeds")

_batch_in = schemas.BatchIn()
_deed_in = schemas.DeedIn()
_introduce_in = schemas.IntroduceIn()
_query = schemas.DeedQuery()


def runtime() -> Runtime:
    return current_app.extensions["sovang"]


def as_actor(who: Principal) -> Actor:
    return Actor(who.role, who.subject)


# Every intake path: the use case's actor is the token's role and subject.
use_case = functools.partial(endpoint, actor=as_actor)


@bp.before_request
def authenticate_and_limit() -> None:
    """Every path needs a token (401), then counts against that token's rate limit (429);
    only then is a body without length read (413 past the limit)."""
    if request.endpoint == "intake.add_evidence":
        # Evidence files may be larger than a JSON body (API.md: 20 MiB), plus the form's framing.
        request.max_content_length = runtime().settings.max_evidence_bytes + 64 * 1024
    who = principal(runtime().db, reader=request_work(runtime().db).reader)
    limiter = current_app.extensions["intake.rate_limiter"]
    token = request.headers.get("Authorization", "")[len("Bearer "):].strip()
    wait = limiter.hit(who.session or hashlib.sha256(token.encode()).hexdigest())
    if wait is not None:
        raise Problem(429, "Quá nhiều yêu cầu với mã xác thực này; hãy thử lại sau.",
                      headers={"Retry-After": retry_after(wait)})
    bound_chunked_body(json_only=False)


def _created(body: Any) -> tuple[Response, int]:
    return jsonify(body), 201


# The two recording paths insert rows of fresh ids alone: the key is claimed with the answer.
@bp.post("")
@use_case(idempotent=True, claim_with_answer=True)
def record(uow: Work, ctx: Context, actor: Actor) -> Any:
    data = load(_deed_in, json_body())
    return _created(schemas.recorded_out(services.record_deed(uow, ctx, actor, data)))


@bp.post("/batch")
@use_case(idempotent=True, claim_with_answer=True)
def record_batch(uow: Work, ctx: Context, actor: Actor) -> Any:
    try:
        data = _batch_in.load(json_body())
    except ValidationError as exc:
        raise Problem(422, "Lô việc tốt không hợp lệ; không việc nào được lưu.",
                      errors=schemas.batch_errors(exc.messages)) from exc
    try:
        views = services.record_batch(uow, ctx, actor, data["deeds"])
    except Refused as exc:
        # Reasons by the index of the deed they concern (API.md).
        raise type(exc)(exc.detail, schemas.batch_errors(exc.errors or {})) from exc
    return _created({"items": [schemas.recorded_out(v) for v in views]})


@bp.get("")
@use_case(read_only=True)
def list_deeds(uow: Work, ctx: Context, actor: Actor) -> Any:
    filters = load(_query, request.args.to_dict())
    limit, cursor = page_params(kind=ID)
    views = services.list_deeds(uow, ctx, actor, filters, limit, cursor)
    return jsonify(page([schemas.deed_out(v) for v in views], limit, key=lambda d: d["id"]))


@bp.get("/<id:deed_id>")
@use_case(read_only=True)
def get_deed(uow: Work, ctx: Context, actor: Actor, deed_id: str) -> Any:
    return jsonify(schemas.deed_out(services.get_deed(uow, ctx, actor, deed_id)))


@bp.post("/<id:deed_id>/introduce")
@use_case(idempotent=True)
def introduce(uow: Work, ctx: Context, actor: Actor, deed_id: str) -> Any:
    if request.get_data(cache=True).strip() or request.mimetype:
        load(_introduce_in, json_body())
    return jsonify(schemas.deed_out(services.introduce(uow, ctx, actor, deed_id)))


@bp.post("/<id:deed_id>/evidence")
@use_case(idempotent=True)
def add_evidence(uow: Work, ctx: Context, actor: Actor, deed_id: str) -> Any:
    limit = ctx.settings.max_evidence_bytes
    if request.mimetype != "multipart/form-data":
        raise Problem(415, "Bằng chứng gửi dạng multipart/form-data, trường file.")
    try:
        upload = request.files.get("file")
        extra = [k for k in (*request.form.keys(), *request.files.keys()) if k != "file"]
    except RequestEntityTooLarge:
        raise Problem(413, f"Tệp bằng chứng tối đa {limit // (1024 * 1024)} MiB.") from None
    if extra:
        raise Problem(422, "Trường không được phép.", errors={k: ["Trường không được phép."] for k in extra})
    if upload is None:
        raise Problem(422, "Thiếu tệp bằng chứng.", errors={"file": ["Trường này là bắt buộc."]})
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise Problem(413, f"Tệp bằng chứng tối đa {limit // (1024 * 1024)} MiB.")
    return _created(services.add_evidence(uow, ctx, actor, deed_id, content))


@bp.get("/<id:deed_id>/evidence/<sha256>")
@use_case(read_only=True)
def get_evidence(uow: Work, ctx: Context, actor: Actor, deed_id: str, sha256: str) -> Response:
    content_type, data = services.get_evidence(uow, ctx, actor, deed_id, sha256)
    resp = Response(data, content_type=content_type)
    # The stored name is the content's hash: no name a client sent is ever served back.
    resp.headers["Content-Disposition"] = f'attachment; filename="{sha256}.{EXTENSIONS.get(content_type, "bin")}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.set_etag(sha256)
    return resp.make_conditional(request)
