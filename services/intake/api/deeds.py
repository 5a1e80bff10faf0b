"""The intake paths of API.md: deeds, their introduction and their evidence."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from services.intake import schemas, services
from services.intake.domain.evidence import EXTENSIONS
from services.intake.domain.scope import Actor
from services.intake.ratelimit import retry_after
from shared.auth import principal
from shared.http import ID, Problem, bound_chunked_body, idempotent, json_body, load, page, page_params
from shared.refusals import Refused
from shared.runtime import Runtime

bp = Blueprint("intake", __name__, url_prefix="/api/v1/deeds")

_batch_in = schemas.BatchIn()
_deed_in = schemas.DeedIn()
_introduce_in = schemas.IntroduceIn()
_query = schemas.DeedQuery()


def runtime() -> Runtime:
    return current_app.extensions["sovang"]


def actor() -> Actor:
    p = g.principal
    return Actor(p.role, p.subject)


def refusals(view: Callable[..., Any]) -> Callable[..., Any]:
    """A use case's refusal becomes a problem inside the view, so Idempotency-Key replays it."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Refused as exc:
            raise Problem.of(exc) from exc

    return wrapper


@bp.before_request
def authenticate_and_limit() -> None:
    """Every path needs a token (401), then counts against that token's rate limit (429);
    only then is a body without length read (413 past the limit)."""
    if request.endpoint == "intake.add_evidence":
        # Evidence files may be larger than a JSON body (API.md: 20 MiB), plus the form's framing.
        request.max_content_length = runtime().settings.max_evidence_bytes + 64 * 1024
    who = principal(runtime().db)
    limiter = current_app.extensions["intake.rate_limiter"]
    token = request.headers.get("Authorization", "")[len("Bearer "):].strip()
    wait = limiter.hit(who.session or hashlib.sha256(token.encode()).hexdigest())
    if wait is not None:
        raise Problem(429, "Quá nhiều yêu cầu với mã xác thực này; hãy thử lại sau.",
                      headers={"Retry-After": retry_after(wait)})
    bound_chunked_body(json_only=False)


def _db() -> Any:
    return runtime().db


def _created(body: Any) -> tuple[Response, int]:
    return jsonify(body), 201


@bp.post("")
@idempotent(_db)
@refusals
def record() -> Any:
    data = load(_deed_in, json_body())
    view = services.record_deed(runtime(), actor(), data)
    return _created(schemas.recorded_out(view))


@bp.post("/batch")
@idempotent(_db)
@refusals
def record_batch() -> Any:
    try:
        data = _batch_in.load(json_body())
    except ValidationError as exc:
        raise Problem(422, "Lô việc tốt không hợp lệ; không việc nào được lưu.",
                      errors=schemas.batch_errors(exc.messages)) from exc
    try:
        views = services.record_batch(runtime(), actor(), data["deeds"])
    except Refused as exc:
        problem = Problem.of(exc)
        raise Problem(problem.status, exc.detail, errors=schemas.batch_errors(exc.errors or {})) from exc
    return _created({"items": [schemas.recorded_out(v) for v in views]})


@bp.get("")
@refusals
def list_deeds() -> Any:
    filters = load(_query, request.args.to_dict())
    limit, cursor = page_params(kind=ID)
    views = services.list_deeds(runtime(), actor(), filters, limit, cursor)
    return jsonify(page([schemas.deed_out(v) for v in views], limit, key=lambda d: d["id"]))


@bp.get("/<id:deed_id>")
@refusals
def get_deed(deed_id: str) -> Any:
    return jsonify(schemas.deed_out(services.get_deed(runtime(), actor(), deed_id)))


@bp.post("/<id:deed_id>/introduce")
@idempotent(_db)
@refusals
def introduce(deed_id: str) -> Any:
    if request.get_data(cache=True).strip() or request.mimetype:
        load(_introduce_in, json_body())
    return jsonify(schemas.deed_out(services.introduce(runtime(), actor(), deed_id)))


@bp.post("/<id:deed_id>/evidence")
@idempotent(_db)
@refusals
def add_evidence(deed_id: str) -> Any:
    limit = runtime().settings.max_evidence_bytes
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
    return _created(services.add_evidence(runtime(), actor(), deed_id, content))


@bp.get("/<id:deed_id>/evidence/<sha256>")
@refusals
def get_evidence(deed_id: str, sha256: str) -> Response:
    content_type, data = services.get_evidence(runtime(), actor(), deed_id, sha256)
    resp = Response(data, content_type=content_type)
    # The stored name is the content's hash: no name a client sent is ever served back.
    resp.headers["Content-Disposition"] = f'attachment; filename="{sha256}.{EXTENSIONS.get(content_type, "bin")}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.set_etag(sha256)
    return resp.make_conditional(request)
