"""The golden books' API (API.md, book): books, entries, verification, revocations."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from services.book import queries, services
from services.book.api.common import MAX_SEQ, unknown_book
from services.book.publication.serving import Asker, reads
from services.book.schemas import RevocationSchema, book_out, entry_out, verdict_out
from services.book.signing import keyring
from services.book.work import Work
from shared.auth import Principal
from shared.bodies import json_body, load, page_params
from shared.context import Context
from shared.cursors import encode_cursor, page
from shared.endpoint import endpoint
from shared.problems import Problem
from shared.ratelimit import limit_render

bp = Blueprint("books", __name__)

_revocation_in = RevocationSchema()


def _cursor(raw: object, kind: type) -> object:
    bad = raw is not None and (
        not isinstance(raw, kind) or isinstance(raw, bool) or (kind is int and not 0 <= raw <= MAX_SEQ)
    )
    if bad:
        raise Problem(422, "cursor không hợp lệ.", errors={"cursor": ["Không hợp lệ."]})
    return raw


@bp.get("/api/v1/books")
@reads()
def list_books(uow: Work, ctx: Context, _who: Asker) -> Response:
    limit, cursor = page_params(kind=str)
    body = page(queries.list_books(uow, ctx, _cursor(cursor, str), limit + 1), limit, key=lambda r: r.code)
    return jsonify({**body, "items": [book_out(r) for r in body["items"]]})


@bp.get("/api/v1/books/<code>/entries")
@reads()
def list_entries(uow: Work, ctx: Context, _who: Asker, code: str) -> Response:
    limit, cursor = page_params(kind=int)
    after = _cursor(cursor, int) or 0
    found = queries.entries_page(uow, ctx, code, after, limit + 1)
    if found is None:
        raise unknown_book(code)
    body = page(found, limit, key=lambda f: f[0].seq)
    return jsonify({**body, "items": [entry_out(e, revoked_by) for e, revoked_by in body["items"]]})


@bp.get("/api/v1/books/<code>/entries/<int:seq>")
@reads()
def get_entry(uow: Work, ctx: Context, _who: Asker, code: str, seq: int) -> Response:
    found = queries.get_entry(uow, ctx, code, seq) if seq <= MAX_SEQ else None
    if found is None:
        if queries.get_book(uow, ctx, code) is None:
            raise unknown_book(code)
        raise Problem(404, f"Sổ vàng {code} không có mục số {seq}.")
    return jsonify(entry_out(*found))


@bp.get("/api/v1/books/<code>/verify")
@reads()
def verify(uow: Work, ctx: Context, _who: Asker, code: str) -> Response:
    """R15, R15b: the chain checked, and against every head ever signed for the book (every entry
    hashed): counted against the address's render limit."""
    limit_render()
    checked = queries.check_book(uow, ctx, code)
    if checked is None:
        raise unknown_book(code)
    return jsonify(verdict_out(code, checked.verdict, checked.witnessed))


@bp.get("/api/v1/books/<code>/heads")
@reads()
def heads(uow: Work, ctx: Context, _who: Asker, code: str) -> Response:
    """R15b: the book's signed heads, newest first (one per entry appended)."""
    limit, cursor = page_params(kind=int)
    before = _cursor(cursor, int)
    found = queries.heads_page(uow, ctx, code, before, limit + 1)
    if found is None:
        raise unknown_book(code)
    body = page(found, limit, key=lambda h: h.entries)
    return jsonify({**body, "items": [h.public() for h in body["items"]]})


@bp.get("/api/v1/books/keys")
@reads()
def keys(_uow: Work, ctx: Context, _who: Asker) -> Response:
    """R15b: the public keys that ever signed a head (the current one first). A list like any other
    (API.md, Common): ``limit`` (≤ 500) and ``cursor``; the cursor is the position of the next key."""
    limit, cursor = page_params(kind=int)
    start = _cursor(cursor, int) or 0
    found = [k.public() for k in keyring(ctx.settings).keys()]
    shown = found[start:start + limit]
    more = start + limit < len(found)
    return jsonify({"items": shown, "next": encode_cursor(start + limit) if more else None})


@bp.post("/api/v1/books/<code>/revocations")
@endpoint("unit_secretary", "province_secretary", idempotent=True)
def revoke(uow: Work, ctx: Context, actor: Principal, code: str) -> Response:
    """R15a → 201 Entry of kind ``revocation``; 409 if already revoked. The book is checked (and
    locked) before the body is read: who may not revoke there learns nothing of it."""
    book = services.revocable(uow, ctx, actor, code)
    data = load(_revocation_in, json_body())
    created = services.revoke(uow, ctx, actor, book, data["seq"], data["reason"])
    resp = jsonify(entry_out(created))
    resp.status_code = 201
    resp.headers["Location"] = url_for("books.get_entry", code=code, seq=created.seq)
    return resp
