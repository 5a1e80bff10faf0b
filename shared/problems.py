"""Errors as application/problem+json (RFC 9457, API.md "Common"): ``Problem``, the one mapping
of a use case's refusal to a status, and the app's error handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from shared.refusals import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Refused,
    TooLarge,
    TooMany,
    Unauthenticated,
    Unavailable,
    UnsupportedType,
)
from shared.validation import flat_errors

# Logged under the name these handlers always had, so that log filters and alerts keep working.
log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TITLES = {
    400: "Yêu cầu không đọc được",
    401: "Chưa xác thực",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    409: "Xung đột trạng thái",
    413: "Nội dung quá lớn",
    415: "Kiểu nội dung không được hỗ trợ",
    422: "Dữ liệu không hợp lệ",
    429: "Quá nhiều yêu cầu",
    500: "Lỗi máy chủ",
    503: "Dịch vụ chưa sẵn sàng",
}


# werkzeug's own refusals, told in Vietnamese like every other problem.
DETAILS = {
    400: "Yêu cầu không đọc được.",
    404: "Không có đường dẫn này.",
    405: "Phương thức không được hỗ trợ cho đường dẫn này.",
    413: "Nội dung quá lớn: một thân JSON tối đa 1 MiB, một tệp bằng chứng tối đa 20 MiB.",
    415: "Kiểu nội dung không được hỗ trợ.",
}


# What a 503 (a database or broker away) and a 429 without a computed wait tell a client to wait.
RETRY_AFTER_SECONDS = 5


class Problem(Exception):
    """An error answered as application/problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        title: str | None = None,
        type_: str = "about:blank",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        # One flat map {field path: [message, …]} whatever shape the refusal came in (API.md).
        self.errors = flat_errors(errors) if errors else None
        self.title = title or TITLES.get(status, "Lỗi")
        self.type = type_
        self.headers = dict(headers or {})
        if status in (429, 503):
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))

    @classmethod
    def of(cls, refused: Refused) -> Problem:
        """The problem a use case's refusal is answered with (``STATUS_OF``)."""
        status = next(code for kind, code in STATUS_OF if isinstance(refused, kind))
        headers = {"Retry-After": str(refused.retry_after)} if isinstance(refused, TooMany) else None
        return cls(status, refused.detail, errors=refused.errors, headers=headers)

    def response(self) -> Response:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        try:
            text = json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # R4a: a refused value may hold a lone surrogate, which UTF-8 cannot carry; JSON's
            # escapes can, so the problem still names it instead of failing with a 500.
            text = json.dumps(body).encode("ascii")
        resp = Response(text, status=self.status, content_type=PROBLEM)
        for k, v in self.headers.items():
            resp.headers[k] = v
        return resp


def as_problem(exc: Problem | Refused) -> Problem:
    """What a page or a view that answers a refusal itself answers: a refusal as its problem."""
    return exc if isinstance(exc, Problem) else Problem.of(exc)


# The one place a refusal (``shared.refusals``) becomes an HTTP status: the most specific first.
STATUS_OF: tuple[tuple[type[Refused], int], ...] = (
    (TooLarge, 413), (UnsupportedType, 415), (Invalid, 422), (Unauthenticated, 401), (Forbidden, 403),
    (NotFound, 404), (Conflict, 409), (TooMany, 429), (Unavailable, 503), (Refused, 400),
)


def install_problem_handlers(app: Flask) -> None:
    """Every error answered as problem+json: a ``Problem``, a use case's refusal, werkzeug's own,
    a dependency away (503) and anything unexpected (500)."""
    app.config.setdefault("MAX_CONTENT_LENGTH", 1024 * 1024)

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return exc.response()

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> Response:
        return Problem.of(exc).response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        keep = {k: v for k, v in exc.get_headers() if k in ("Allow", "Retry-After")}
        detail = DETAILS.get(status) or TITLES.get(status, "Lỗi")
        return Problem(status, detail, headers=keep).response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if unavailable(exc):
            log.warning("dependency unavailable on %s %s: %r", request.method, request.path, exc)
            return Problem(503, "Cơ sở dữ liệu hoặc hàng đợi tạm thời không truy cập được; "
                                "yêu cầu không được thực hiện, hãy thử lại sau.").response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return Problem(500, "Đã xảy ra lỗi không mong muốn; yêu cầu không được thực hiện.").response()


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a database or broker that cannot be reached or
    went away mid-request: a 503 the client may retry, not a fault of the request."""
    import redis
    from kombu.exceptions import OperationalError as BrokerError
    from sqlalchemy import exc as sa_exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError
                      | redis.ConnectionError | redis.TimeoutError | BrokerError | ConnectionError):
            return True
        current = current.__cause__ or current.__context__
    return False
