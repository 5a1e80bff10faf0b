"""Input schemas (strict: an unknown field is a 422) and the output shapes of API.md (book)."""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from services.book.domain.chain import Verdict


class RevocationSchema(Schema):
    """R15a: ``{"seq", "reason"}``."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "Trường không được phép.", "type": "Phải là một đối tượng JSON."}

    seq = fields.Integer(
        required=True, strict=True,
        validate=validate.Range(min=1, error="Phải là số thứ tự của một mục (từ 1)."),
        error_messages={"required": "Bắt buộc.", "null": "Bắt buộc.", "invalid": "Phải là số nguyên."},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000, error="Từ 1 đến 2000 ký tự."),
        error_messages={"required": "Bắt buộc.", "null": "Bắt buộc.", "invalid": "Phải là chuỗi ký tự."},
    )

    @validates("reason")
    def _reason(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Lý do không được để trống.")

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["reason"] = unicodedata.normalize("NFC", data["reason"].strip())
        return data


ENTRY_FIELDS = ("book", "seq", "kind", "revokes", "reason", "deed", "decision", "tally", "inscribed_at", "prev_hash", "hash")


def entry_out(entry: dict[str, Any], revoked_by: int | None = None) -> dict[str, Any]:
    """Entry (API.md): the chain's fields, plus ``revoked_by`` (the revocation's seq, or null)."""
    out = {name: entry.get(name) for name in ENTRY_FIELDS}
    out["revoked_by"] = revoked_by
    return out


def book_out(row: Any) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "kind": row.kind, "entries": row.entries, "head": row.head}


def verdict_out(book: str, verdict: Verdict) -> dict[str, Any]:
    return {
        "book": book,
        "valid": verdict.valid,
        "entries": verdict.entries,
        "head": verdict.head,
        "first_bad_seq": verdict.first_bad_seq,
        "problem": verdict.problem,
    }
