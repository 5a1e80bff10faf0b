"""Input schemas (strict: an unknown field is a 422) and the output shapes of API.md (book)."""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from services.book.domain.chain import Verdict
from services.book.domain.entries import ENTRY_FIELDS, Entry
from services.book.domain.paper import source_of
from services.book.domain.witness import Witnessed
from shared import clock
from shared.text import MULTILINE_NOT_BLANK_PATTERN, text_problem
from shared.validation import StrictSchema


class RevocationSchema(StrictSchema):
    """R15a: ``{"seq", "reason"}``."""

    seq = fields.Integer(
        required=True, strict=True,
        validate=validate.Range(min=1, max=2**31 - 1, error="Phải là số thứ tự của một mục (từ 1)."),
        error_messages={"required": "Bắt buộc.", "null": "Bắt buộc.", "invalid": "Phải là số nguyên."},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000, error="Từ 1 đến 2000 ký tự."),
        error_messages={"required": "Bắt buộc.", "null": "Bắt buộc.", "invalid": "Phải là chuỗi ký tự."},
        metadata={"pattern": MULTILINE_NOT_BLANK_PATTERN,
                  "description": "R4a: được xuống dòng và tab; ký tự điều khiển khác, noncharacter (U+FFFE …) "
                                 "và surrogate đơn lẻ bị từ chối (422)"},
    )

    @validates("reason")
    def _reason(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Lý do không được để trống.")
        problem = text_problem(value, multiline=True)  # R4a: lines and tabs allowed, nothing else
        if problem:
            raise ValidationError(problem)

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["reason"] = unicodedata.normalize("NFC", data["reason"].strip())
        return data




def entry_out(entry: Entry, revoked_by: int | None = None) -> dict[str, Any]:
    """Entry (API.md): the chain's fields, plus ``revoked_by`` (the revocation's seq, or null)."""
    out = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    out["revoked_by"] = revoked_by
    out["source"] = source_of(entry.decision)
    return out


def book_out(row: Any) -> dict[str, Any]:
    out = {"code": row.code, "name": row.name, "kind": row.kind, "entries": row.entries, "head": row.head}
    if row.closed_at is not None:
        # R25: only a closed book says so; an open one keeps the documented five fields.
        out["closed_at"] = clock.isoformat(clock.local(row.closed_at))
    return out


def verdict_out(book: str, verdict: Verdict, witnessed: Witnessed | None = None) -> dict[str, Any]:
    out = {
        "book": book,
        "valid": verdict.valid,
        "entries": verdict.entries,
        "head": verdict.head,
        "first_bad_seq": verdict.first_bad_seq,
        "problem": verdict.problem,
    }
    if witnessed is not None:
        out["signed_heads"] = witnessed.signed
        out["signed_head"] = witnessed.latest.public() if witnessed.latest else None
    return out


# -- output shapes, as documented (the views build them with the functions above) ----------------
class BookOut(Schema):
    code = fields.String(required=True, metadata={"description": "Mã đơn vị, hoặc mã tỉnh (CAT) cho sổ vàng của tỉnh"})
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["unit", "province"]))
    entries = fields.Integer(required=True)
    head = fields.String(allow_none=True, metadata={"description": "Mã băm SHA-256 của mục cuối (đầu chuỗi)"})
    closed_at = fields.String(metadata={"description": "R25, chỉ có ở sổ đã khoá (đơn vị không còn trong tổ chức): "
                                                       "thời điểm khoá; sổ vẫn công khai, kiểm chứng được, không ghi thêm"})


class EntryAuthor(Schema):
    officer = fields.String()
    collective = fields.String()
    name = fields.String(required=True)


class EntryDeed(Schema):
    id = fields.String(required=True)
    title = fields.String()
    description = fields.String()
    kind = fields.String(validate=validate.OneOf(["good_deed", "achievement", "feat", "exemplar"]))
    relation = fields.String(validate=validate.OneOf(["direct", "indirect"]))
    occurred_on = fields.Date()
    author = fields.Nested(EntryAuthor)
    unit = fields.String()


class EntryOut(Schema):
    book = fields.String(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["inscription", "revocation"]))
    revokes = fields.Integer(allow_none=True, metadata={"description": "Mục bị thu hồi (chỉ với mục thu hồi)"})
    reason = fields.String(allow_none=True, metadata={"description": "Lý do thu hồi (chỉ với mục thu hồi)"})
    deed = fields.Nested(EntryDeed, required=True)
    decision = fields.Dict(allow_none=True, metadata={"description": "number, date, issuer, issuer_name"})
    tally = fields.Dict(allow_none=True, metadata={"description": "approve, reject, abstain, entitled, ratio, round, round_kind, period"})
    inscribed_at = fields.String(required=True, metadata={"description": "ISO 8601, +07:00"})
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "SHA-256 của dạng chuẩn của mục (R15)"})
    revoked_by = fields.Integer(allow_none=True, metadata={"description": "Mục thu hồi mục này, nếu có"})
    source = fields.String(required=True, validate=validate.OneOf(["system", "paper"]), metadata={
        "description": "R22: paper — nhập từ sổ vàng giấy (sovang book import); system — ghi bởi hệ thống"})


class BookPage(Schema):
    items = fields.List(fields.Nested(BookOut), required=True)
    next = fields.String(allow_none=True)


class EntryPage(Schema):
    items = fields.List(fields.Nested(EntryOut), required=True)
    next = fields.String(allow_none=True)


class SignedHeadOut(Schema):
    book = fields.String(required=True)
    entries = fields.Integer(required=True, metadata={"description": "Số mục của sổ khi ký"})
    head = fields.String(required=True, metadata={"description": "Mã băm của mục thứ `entries` (đầu chuỗi)"})
    signed_at = fields.String(required=True, metadata={"description": "ISO 8601, +07:00, đúng như đã ký"})
    signature = fields.String(required=True, metadata={"description": (
        "Base64 của chữ ký Ed25519 trên JSON chuẩn tắc (R15) của "
        '{"format": "sovang-head/1", "book", "entries", "head", "signed_at"}')})
    key_id = fields.String(required=True, metadata={"description": "16 chữ số hex đầu của SHA-256 khóa công khai"})


class SignedHeadPage(Schema):
    items = fields.List(fields.Nested(SignedHeadOut), required=True)
    next = fields.String(allow_none=True)


class PublicKeyOut(Schema):
    key_id = fields.String(required=True)
    algorithm = fields.String(required=True, validate=validate.OneOf(["Ed25519"]))
    public_key = fields.String(required=True, metadata={"description": "Base64 của 32 byte khóa công khai"})
    pem = fields.String(required=True, metadata={"description": "Khóa công khai, PEM (SubjectPublicKeyInfo)"})
    current = fields.Boolean(required=True, metadata={"description": "Khóa đang ký các đầu chuỗi mới"})


class PublicKeyPage(Schema):
    items = fields.List(fields.Nested(PublicKeyOut), required=True)
    next = fields.String(allow_none=True)


class VerificationOut(Schema):
    book = fields.String(required=True)
    valid = fields.Boolean(required=True)
    entries = fields.Integer(required=True)
    head = fields.String(allow_none=True)
    first_bad_seq = fields.Integer(allow_none=True, metadata={"description": "Mục đầu tiên không còn khớp chuỗi"})
    problem = fields.String(allow_none=True)
    signed_heads = fields.Integer(metadata={"description": "Số đầu chuỗi đã ký có chữ ký hợp lệ (R15b)"})
    signed_head = fields.Nested(SignedHeadOut, allow_none=True, metadata={
        "description": "Đầu chuỗi đã ký mới nhất khớp với sổ"})


class FiguresOut(Schema):
    since = fields.Date(required=True)
    province_total = fields.Integer(required=True, metadata={"description": "Việc tốt ghi vào sổ vàng của tỉnh, không kể mục đã thu hồi"})
    by_quarter = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_unit = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    unit_books = fields.Dict(metadata={"description": "Cùng các số ấy cho sổ vàng của các đơn vị"})
