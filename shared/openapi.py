"""What every service's OpenAPI document shares (API.md, "Common"), so that an operation any
service adds is documented as the conventions make it behave, without saying so itself:

- the problem+json schema (``errors`` one flat map of lists of messages);
- every status the shared machinery can answer: 503 (a dependency away) everywhere, 401/403
  where a token is asked, 404 where the path names something, 422 for queries and keys,
  400/413/415/422 for bodies, 409 for a POST whose Idempotency-Key is in use, 429 where a rate
  limit counts, with ``Retry-After`` on 429 and 503;
- ``Idempotency-Key`` on every POST, with its limits;
- free-text query parameters: no control character nor noncharacter (R4a);
- schema-level constraints a marshmallow schema declares in ``OPENAPI`` (``minProperties``…);
- each service's audit record (R23, ``shared.audit``).

A service writes its document as a ``Document``: its title, its component schemas, its paths,
then ``finish()``. Generated from the marshmallow schemas that validate (apispec), never copied
by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from shared.cursors import MAX_LIMIT, cursor_schema
from shared.idempotency import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN
from shared.problems import RETRY_AFTER_SECONDS
from shared.text import SINGLE_LINE_PATTERN

PROBLEM_MEDIA = "application/problem+json"
BEARER = [{"bearer": []}]
BINARY = {"type": "string", "format": "binary"}
UUID = {"type": "string", "format": "uuid"}
ERRORS = "Mọi lỗi là application/problem+json; errors là một bảng phẳng {đường dẫn trường: [thông báo, …]}."
STATUSES = {
    400: "Nội dung không đọc được (JSON hỏng, UTF-8 sai, lồng quá sâu)",
    401: "Thiếu mã xác thực, hoặc mã không hợp lệ, hết hạn, đã thu hồi",
    403: "Không có quyền với chủ thể này",
    404: "Không tìm thấy (hoặc ngoài phạm vi được xem)",
    409: "Xung đột trạng thái, hoặc một yêu cầu cùng Idempotency-Key đang được xử lý",
    413: "Nội dung quá lớn (JSON ≤ 1 MiB, tệp bằng chứng ≤ 20 MiB)",
    415: "Kiểu nội dung không được hỗ trợ",
    422: "Dữ liệu không hợp lệ: errors là một bảng phẳng {đường dẫn trường: [thông báo, …]}",
    429: "Quá nhiều yêu cầu: thử lại sau Retry-After giây",
    503: "Cơ sở dữ liệu hoặc hàng đợi tạm thời không truy cập được; không gì được lưu: thử lại sau Retry-After giây",
}
# Shorter words for the statuses, for a service that says what its 403, 404 and 409 mean itself.
BRIEF = {
    400: "Nội dung không đọc được",
    401: "Thiếu hoặc sai mã xác thực",
    413: "Nội dung quá lớn",
    415: "Kiểu nội dung không được hỗ trợ",
    422: "Trường không hợp lệ (errors theo trường)",
}
RETRY_AFTER = {
    "description": "Số giây nên đợi trước khi thử lại",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "example": RETRY_AFTER_SECONDS},
}
IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": IDEMPOTENCY_KEY_PATTERN},
    "description": "Cùng khoá và cùng nội dung: trả lại đúng phản hồi đầu tiên (cùng mã, cùng nội dung) và không "
                   "đổi gì; cùng khoá khác nội dung: 422 (errors.Idempotency-Key); khoá đang được xử lý: 409. "
                   "Khoá theo chủ thể của mã xác thực, giữ ít nhất 24 giờ. Tối đa 255 ký tự ASCII in được.",
}


class ProblemOut(Schema):
    """RFC 9457 problem details, as every error of API.md."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True, metadata={"minimum": 400, "maximum": 599})
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata={"description": "Chỉ khi dữ liệu không hợp lệ: đường dẫn trường (`author`, `choices.<mã ứng viên>`, "
                                 "`ballots[3].choices`, `Idempotency-Key`; với một lô: chỉ số của mục) → các thông "
                                 "báo tiếng Việt"},
    )


class Plugin(MarshmallowPlugin):
    """apispec's marshmallow plugin, which also adds what a schema class declares in
    ``OPENAPI`` (constraints on the object as a whole)."""

    def schema_helper(self, name: str, _: Any, schema: Any = None, **kwargs: Any) -> dict | None:
        out = super().schema_helper(name, _, schema=schema, **kwargs)
        cls = schema if isinstance(schema, type) else type(schema)
        extra = getattr(cls, "OPENAPI", None)
        if out is not None and extra:
            out.update(extra)
        return out


def new_spec(title: str, description: str) -> APISpec:
    api = APISpec(title=title, version="1", openapi_version="3.0.3", plugins=[Plugin()],
                  info={"description": description})
    api.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.components.schema("Problem", schema=ProblemOut)
    return api


def json_content(schema: Any) -> dict[str, Any]:
    """A JSON body of ``schema`` (a component's name, a marshmallow schema, or a JSON schema)."""
    return {"application/json": {"schema": schema}}


def path_param(name: str, schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"in": "path", "name": name, "required": True, "schema": dict(schema)}
    if description is not None:
        out["description"] = description
    return out


class Document:
    """One service's OpenAPI document as it is written: ``new_spec`` titled after the service, its
    component schemas, its paths (``path``), its problems in its own words (``problems``), and
    ``finish``, which adds the audit record's path and what the shared machinery does."""

    def __init__(self, service: str, what: str, components: Iterable[tuple[str, type[Schema]]],
                 words: Mapping[int, str] | None = None) -> None:
        self.service = service
        self.api = new_spec(f"Sổ vàng lập công — {service}", f"{what} {ERRORS}")
        for name, schema in components:
            self.api.components.schema(name, schema=schema)
        self.words = dict(words or {})

    def path(self, path: str, operations: dict[str, Any]) -> None:
        self.api.path(path=path, operations=operations)

    def problems(self, *statuses: int, **described: str) -> dict[str, Any]:
        return problems(*statuses, words=self.words, **described)

    def finish(self, *, rate_limited: bool | set[str] = False) -> dict[str, Any]:
        for path, operations in audit_paths(self.service).items():
            self.path(path, operations)
        for path, operations in health_paths().items():
            self.path(path, operations)
        return finish(self.api.to_dict(), rate_limited=rate_limited)


def health_paths() -> dict[str, dict[str, Any]]:
    """API.md: ``GET /healthz`` (the process is up) and ``GET /readyz`` (its database and broker
    answer) on every service (``shared.health``); the same in each document."""
    checks = {"type": "object", "additionalProperties": {"type": "string"},
              "description": "Mỗi phụ thuộc (database, broker): `ok` hoặc lý do không truy cập được."}
    # A service answers for itself (``service``, ``checks``); the edge (gateway or nginx) for all
    # of them at once (``services``: each one's answer).
    each = {"type": "object", "additionalProperties": {"type": "object"},
            "description": "Ở cổng chung: câu trả lời của từng dịch vụ."}
    up = {"type": "object", "required": ["status"],
          "properties": {"status": {"type": "string", "enum": ["ok"]}, "service": {"type": "string"},
                         "services": each}}
    ready = {"type": "object", "required": ["status"],
             "properties": {"status": {"type": "string", "enum": ["ready", "ok"]}, "service": {"type": "string"},
                            "checks": checks, "services": each}}
    return {
        "/healthz": {"get": {"operationId": "getHealth", "summary": "Tiến trình đang chạy.", "tags": ["health"],
                             "responses": {"200": {"description": "Đang chạy.", "content": json_content(up)}}}},
        "/readyz": {"get": {"operationId": "getReadiness", "summary": "Cơ sở dữ liệu và broker đều truy cập được.",
                            "tags": ["health"], "responses": {
                                "200": {"description": "Sẵn sàng.", "content": json_content(ready)},
                                "503": problem(503, "Chưa sẵn sàng: một phụ thuộc không truy cập được; vấn đề "
                                                    "kèm `service` và `checks` như câu trả lời 200.")}}},
    }


def paging(kind: type | None = None, default: int = 100) -> list[dict[str, Any]]:
    """``limit`` and ``cursor`` of a list (``shared.bodies.page_params``)."""
    return [
        {"in": "query", "name": "limit", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default}},
        {"in": "query", "name": "cursor", "required": False, "schema": cursor_schema(kind)},
    ]


def problems(*statuses: int, words: Mapping[int, str] | None = None, **described: str) -> dict[str, Any]:
    """Problem responses; ``words``: a service's own words for some statuses; ``described``: an
    operation's (``s409=…``)."""
    return {str(s): problem(s, described.get(f"s{s}") or (words or {}).get(s)) for s in statuses}


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description or STATUSES[status],
                           "content": {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status in (429, 503):
        out["headers"] = {"Retry-After": RETRY_AFTER}
    return out


METHODS = ("get", "put", "post", "patch", "delete")


def finish(doc: dict[str, Any], *, rate_limited: bool | set[str] = False) -> dict[str, Any]:
    """Complete every operation of ``doc`` with what the shared machinery does (see the module);
    ``rate_limited``: every operation (True), or those operation ids, count against a limit."""
    doc.setdefault("components", {}).setdefault("schemas", {})
    for path, item in doc.get("paths", {}).items():
        shared_params = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = op.setdefault("parameters", [])
            every = [*shared_params, *params]
            if method == "post" and not any(p.get("name") == "Idempotency-Key" for p in every if "in" in p):
                params.append(dict(IDEMPOTENCY_KEY))
            for p in every:
                if isinstance(p, dict):
                    _text_parameter(p)
            responses = op.setdefault("responses", {})
            needed = {503}
            if any(req for req in op.get("security", doc.get("security", [])) if req):
                needed |= {401, 403}
            if "{" in path:
                needed.add(404)
            if any(p.get("in") == "query" for p in every if isinstance(p, dict)):
                needed.add(422)
            if method == "post":
                needed |= {409, 422}
            if "requestBody" in op:
                needed |= {400, 413, 415, 422}
            if rate_limited is True or (isinstance(rate_limited, set) and op.get("operationId") in rate_limited):
                needed.add(429)
            for status in sorted(needed):
                responses.setdefault(str(status), problem(status))
            for status in ("429", "503"):
                if status in responses:
                    responses[status].setdefault("headers", {}).setdefault("Retry-After", RETRY_AFTER)
            for response in responses.values():
                for media, content in (response.get("content") or {}).items():
                    if "schema" not in content:
                        # A document that is not JSON: bytes, as a generated client reads them.
                        content["schema"] = {"type": "string", "format": "binary"} if "json" not in media else {}
    return doc


def _text_parameter(param: dict[str, Any]) -> None:
    """A free-text query parameter says what the server refuses in any query (R4a)."""
    schema = param.get("schema")
    if param.get("in") != "query" or not isinstance(schema, dict) or schema.get("type") != "string":
        return
    if not any(k in schema for k in ("pattern", "enum", "format")):
        schema["pattern"] = SINGLE_LINE_PATTERN


def audit_paths(service: str) -> dict[str, Any]:
    """The path's OpenAPI operation, for each service's document."""
    # Empty: no bound, as when absent.
    bound = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}, {"enum": [""]}]}
    line = {
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "object", "properties": {"role": {"type": "string"}, "subject": {"type": "string"}}},
            "action": {"type": "string"},
            "object": {"type": "string"},
            "details": {"type": "object"},
        },
    }
    return {f"/api/v1/audit/{service}": {"get": {
        "summary": f"Nhật ký thay đổi (R23) của dịch vụ {service}: thư ký đơn vị (đơn vị mình), thư ký Công an tỉnh",
        "operationId": f"audit{service.capitalize()}", "tags": [service], "security": [{"bearer": []}],
        "parameters": [
            {"in": "query", "name": "unit", "schema": {"type": "string"}},
            {"in": "query", "name": "from", "schema": bound,
             "description": "YYYY-MM-DD (giờ Việt Nam) hoặc thời điểm ISO 8601 có múi giờ"},
            {"in": "query", "name": "to", "schema": bound, "description": "như from; ngày: cả ngày đó"},
            *paging(int),
        ],
        "responses": {
            "200": {"description": "Một trang, cũ trước", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"items": {"type": "array", "items": line},
                                                 "next": {"type": "string", "nullable": True}}}}}},
            **problems(401, 403, 422),
        },
    }}}
