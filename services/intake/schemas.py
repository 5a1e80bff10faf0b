"""What intake accepts (strict: an unknown field is an error, never ignored) and what it answers
(whitelisted fields). Messages are Vietnamese: they reach the units' systems as ``errors``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.intake.domain.text import nfc, text_problem
from shared import clock
from shared.cursors import ID, cursor_schema
from shared.messages import STATUSES
from shared.text import (
    MULTILINE_NOT_BLANK_PATTERN,
    MULTILINE_PATTERN,
    SINGLE_LINE_NOT_BLANK_PATTERN,
    SINGLE_LINE_PATTERN,
)
from shared.validation import StrictSchema, by_index, flat_errors

KINDS = ("good_deed", "achievement", "feat", "exemplar")
RELATIONS = ("direct", "indirect")
MAX_BATCH = 1000
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
PLACE_MAX = 500
BENEFICIARIES_MAX = 2_000
CODE_MAX = 64

REQUIRED = "Trường này là bắt buộc."
NULL = "Không được là null."
_MESSAGES = {"required": REQUIRED, "null": NULL, "validator_failed": "Giá trị không hợp lệ."}


def _messages(**extra: str) -> dict[str, str]:
    return {**_MESSAGES, **extra}


class Text(fields.String):
    """R4: a string stored in NFC; lone surrogates and control characters are refused (R4a),
    and with ``not_blank`` a string of white space alone. The OpenAPI document states both as
    the field's pattern."""

    def __init__(self, *, multiline: bool = False, not_blank: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages(invalid="Phải là chuỗi ký tự."))
        if not_blank:
            given = kwargs.get("validate")
            kwargs["validate"] = [*(given if isinstance(given, list) else [given] if given else []), _not_blank]
        patterns = {(False, False): SINGLE_LINE_PATTERN, (True, False): MULTILINE_PATTERN,
                    (False, True): SINGLE_LINE_NOT_BLANK_PATTERN, (True, True): MULTILINE_NOT_BLANK_PATTERN}
        kwargs["metadata"] = {"pattern": patterns[multiline, not_blank], **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, self.multiline)
        if problem:
            raise ValidationError(problem)
        return nfc(text)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Không được để trống.")


def _length(lo: int, hi: int) -> validate.Length:
    return validate.Length(min=lo, max=hi, error=f"Độ dài phải từ {lo} đến {hi} ký tự.")


class LocalDate(fields.Date):
    """A local date ``YYYY-MM-DD`` (R21), nothing looser."""

    _PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _messages(invalid="Ngày phải có dạng YYYY-MM-DD."))
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or not self._PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None


class LocalInstant(fields.DateTime):
    """An instant answered in ISO 8601 with the +07:00 offset (R21)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else clock.isoformat(value)


def _choice(options: tuple[str, ...]) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.OneOf(options, error=f"Phải là một trong: {', '.join(options)}."),
        error_messages=_messages(invalid="Phải là chuỗi ký tự."),
        metadata={"enum": list(options)},
    )


# -- input ---------------------------------------------------------------------------------------
class DeedAuthorIn(StrictSchema):
    """``{"officer": CODE}`` or ``{"collective": CODE}`` (a sub-unit or a unit)."""

    OPENAPI: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}

    officer = Text(validate=_length(1, CODE_MAX))
    collective = Text(validate=_length(1, CODE_MAX))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError("Cần đúng một trong hai: officer hoặc collective.", "_schema")


class DeedIn(StrictSchema):
    """A deed as a unit's system sends it (R2)."""

    author = fields.Nested(DeedAuthorIn, required=True, error_messages=_messages(type="Phải là một đối tượng JSON."))
    occurred_on = LocalDate(required=True)
    kind = _choice(KINDS)
    relation = _choice(RELATIONS)
    title = Text(required=True, not_blank=True, validate=_length(1, TITLE_MAX))
    description = Text(required=True, multiline=True, not_blank=True, validate=_length(1, DESCRIPTION_MAX))
    place = Text(allow_none=True, validate=_length(1, PLACE_MAX))
    beneficiaries = Text(allow_none=True, multiline=True, validate=_length(1, BENEFICIARIES_MAX))


class BatchIn(StrictSchema):
    deeds = fields.List(
        fields.Nested(DeedIn, error_messages=_messages(type="Phải là một đối tượng JSON.")),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH, error=f"Từ 1 đến {MAX_BATCH} việc tốt."),
        error_messages=_messages(invalid="Phải là một danh sách."),
    )


class IntroduceIn(StrictSchema):
    """Introducing takes no field; an empty object (or no body) is expected."""


class DeedQuery(StrictSchema):
    """The filters of ``GET /api/v1/deeds`` (``limit`` and ``cursor`` are read apart)."""

    unit = Text(validate=_length(1, CODE_MAX))
    month = fields.String(
        validate=validate.Regexp(clock.MONTH_PATTERN, error="Tháng phải có dạng YYYY-MM, từ 2021-09."),
        error_messages=_messages(),
    )
    status = fields.String(
        validate=validate.OneOf(STATUSES, error=f"Phải là một trong: {', '.join(STATUSES)}."),
        error_messages=_messages(),
        metadata={"enum": list(STATUSES)},
    )
    q = Text(validate=_length(1, 200), metadata={
        "description": "R4: mỗi từ khớp với đầu một từ của tiêu đề hoặc mô tả (\"an\" tìm thấy \"an toàn\", "
                       "\"Công an\", không tìm thấy \"Nhân dân\"), có dấu hay không dấu, không phân biệt hoa thường",
    })
    limit = fields.Integer(
        validate=validate.Range(min=1, max=500, error="Từ 1 đến 500."),
        error_messages=_messages(invalid="Phải là số nguyên."),
        metadata={"description": "1–500, mặc định 100"},
    )
    cursor = fields.String(error_messages=_messages(), metadata=cursor_schema(ID))


# -- output --------------------------------------------------------------------------------------
class DeedAuthor(Schema):
    officer = fields.String()
    collective = fields.String()
    name = fields.String(metadata={"description": "Tên hiển thị (cấp bậc, họ tên hoặc tên đơn vị)"})


class DeedBookEntry(Schema):
    book = fields.String(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(metadata={"description": "chỉ có với mục thu hồi (revocation)"})


class EvidenceOut(Schema):
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    content_type = fields.String(required=True)


class DeedOut(Schema):
    """A deed as intake answers it; ``beneficiaries`` only ever reaches those who may read it."""

    id = fields.String(required=True)
    author = fields.Nested(DeedAuthor, required=True)
    occurred_on = fields.Date(required=True)
    kind = fields.String(required=True, metadata={"enum": list(KINDS)})
    relation = fields.String(required=True, metadata={"enum": list(RELATIONS)})
    title = fields.String(required=True)
    description = fields.String(required=True)
    place = fields.String(allow_none=True)
    beneficiaries = fields.String(allow_none=True, metadata={
        "description": "R2a: riêng tư — chỉ có trong câu trả lời cho tác giả, trưởng đơn vị cơ sở giới thiệu việc tốt "
                       "và thư ký đơn vị; không có với mọi người đọc khác",
    })
    unit = fields.String(required=True)
    subunit = fields.String(allow_none=True)
    month = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    carried_over = fields.Boolean(
        required=True, metadata={"description": "R5a: introduced after its month's round opened, so put to the "
                                                "unit's next monthly round"})
    created_at = LocalInstant(required=True)
    book_entries = fields.List(fields.Nested(DeedBookEntry), required=True)
    evidence = fields.List(fields.Nested(EvidenceOut), required=True)


class DeedPage(Schema):
    items = fields.List(fields.Nested(DeedOut), required=True)
    next = fields.String(allow_none=True, required=True)


class DeedItems(Schema):
    items = fields.List(fields.Nested(DeedOut), required=True)


_deed_out = DeedOut()


def deed_out(view: dict[str, Any]) -> dict[str, Any]:
    return _deed_out.dump(view)


_AUTHOR_KEYS = tuple(DeedAuthor._declared_fields)


def recorded_out(view: dict[str, Any]) -> dict[str, Any]:
    """``deed_out`` of a deed just recorded (``services._new_view``: plain values, no evidence, no
    book entry yet), built directly: marshmallow's walk over DeedOut was a measurable share of
    recording a deed. The tests hold it equal to ``deed_out``, key order included."""
    author = view["author"]
    out = {
        "id": view["id"],
        "author": {k: author[k] for k in _AUTHOR_KEYS if k in author},
        "occurred_on": view["occurred_on"].isoformat(),
        "kind": view["kind"],
        "relation": view["relation"],
        "title": view["title"],
        "description": view["description"],
        "place": view["place"],
        "beneficiaries": view.get("beneficiaries"),
        "unit": view["unit"],
        "subunit": view["subunit"],
        "month": view["month"],
        "status": view["status"],
        "carried_over": False,
        "created_at": clock.isoformat(view["created_at"]),
        "book_entries": [],
        "evidence": [],
    }
    if "beneficiaries" not in view:  # R2a: not for this reader (deed_out leaves it out alike)
        del out["beneficiaries"]
    return out


def batch_errors(messages: dict[str, Any]) -> dict[str, list[str]]:
    """Errors of a batch keyed by the index of the deed they concern (API.md), each a list of
    messages naming the deed's field (``"title: …"``): one flat map of lists, as every
    ``errors`` is; an error of the batch as a whole keeps its field (``deeds``)."""
    if isinstance(messages.get("deeds"), dict):
        rest = {k: v for k, v in messages.items() if k != "deeds"}
        return {**flat_errors(rest), **by_index(messages["deeds"])}
    if messages and all(str(k).isdigit() for k in messages):
        return by_index(messages)
    return flat_errors(messages)


class EvidenceUpload(Schema):
    """``multipart/form-data`` with one part, ``file`` (the name sent with it is ignored)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
