"""R16: what the press office and the public read — feeds, honour-roll pages, certificates, the
quarterly press release and the running figures — served from what the worker generated."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response

from services.book import queries
from services.book.api import people
from services.book.api.common import MAX_SEQ, configured_origin, public_origin
from services.book.domain.publication import valid_period
from services.book.publication import pages
from services.book.publication import publisher as paths
from services.book.publication.feeds import absolute
from services.book.publication.pdf import ASSETS
from services.book.publication.publisher import Publisher, Rendered, keep_rendered, store_certificate
from services.book.publication.serving import (
    Asker,
    conditional,
    find_publication,
    public,
    publication,
    reads,
    respond,
    unknown_book,
)
from services.book.repository import etag_of
from services.book.work import Work
from shared import clock
from shared.context import Context
from shared.problems import Problem
from shared.ratelimit import limit_render

bp = Blueprint("publications", __name__)
people.install(bp)

FORMATS = "any(atom, rss, json)"


FEED_CACHE = "public, max-age=5"  # a gateway may keep a feed this long: fresh within seconds


def _book(uow: Work, ctx: Context, code: str):  # noqa: ANN202
    book = queries.get_book(uow, ctx, code)
    if book is None:
        raise unknown_book(code)
    return book


def _chain(book) -> tuple[tuple[str, str], ...]:  # noqa: ANN001
    """The chain head published beside every feed (R15)."""
    return ("X-Chain-Entries", str(book.entries)), ("X-Chain-Head", book.head or "")


def _feed(uow: Work, ctx: Context, code: str, path: str, render, modified=None) -> Response:  # noqa: ANN001
    """A feed document, its links made absolute under the public origin as it is served."""
    found = find_publication(uow, ctx, code, path, render, cached=True)
    if found.body is not None:
        found = replace(found, body=absolute(found.body, public_origin()))
    return respond(found, modified, FEED_CACHE, _chain(found.book))


def _nothing(_publisher: Publisher) -> None:
    return None


def _last_entry(book) -> object:  # noqa: ANN001
    return book.updated_at or book.created_at


@bp.get(f"/feeds/<code>.<{FORMATS}:fmt>")
@reads()
def feed(uow: Work, ctx: Context, _who: Asker, code: str, fmt: str) -> Response:
    """Atom 1.0, RSS 2.0, JSON Feed 1.1 of a book, newest first (its newest entries)."""
    return _feed(uow, ctx, code, paths.feed_path(code, fmt), lambda p: p.feed(code, fmt), _last_entry)


@bp.get(f"/feeds/<code>/archive/<int:number>.<{FORMATS}:fmt>")
@reads()
def feed_archive(uow: Work, ctx: Context, _who: Asker, code: str, number: int, fmt: str) -> Response:
    """RFC 5005 archive document ``number`` of a book's feed (older entries)."""
    render = (lambda p: p.feed(code, fmt, number)) if number <= MAX_SEQ else _nothing
    return _feed(uow, ctx, code, paths.feed_path(code, fmt, number), render)


FONTS = {"DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"}


@bp.get("/honour-roll/assets/<name>")
def font(name: str) -> Response:
    """The fonts the pages use (shipped with the project): Vietnamese exact on any reader."""
    if name not in FONTS:
        raise Problem(404, "Không có tệp này.")
    body = (ASSETS / name).read_bytes()
    resp = conditional(body, "font/ttf", etag_of(body), None)
    resp.headers["Cache-Control"] = "public, max-age=604800"
    return resp


@bp.get("/honour-roll/")
@reads()
def books_page(uow: Work, ctx: Context, _who: Asker) -> Response:
    return publication(uow, ctx, paths.BOOKS_PAGE_PATH, Publisher.books_page)


@bp.get("/honour-roll/<code>/")
@public()
def book_page(uow: Work, ctx: Context, _who: Asker, code: str) -> Response:
    """A book's honour roll: stored with its entries; when it is not (the moments between an
    entry and its pages, a database migrated since), rendered on request and kept."""
    return _kept(uow, ctx, code, paths.book_page_path(code), lambda p: p.book_page(code))


@bp.get("/honour-roll/<code>/<period>")
@public()
def period_page(uow: Work, ctx: Context, _who: Asker, code: str, period: str) -> Response:
    """A month's (``YYYY-MM``) or a quarter's (``YYYY-Qn``) honour roll of a book."""
    if not valid_period(period):
        _book(uow, ctx, code)
        raise Problem(404, f"Kỳ {period!r} không hợp lệ: dùng YYYY-MM hoặc YYYY-Qn.")
    if not clock.in_programme(clock.parse_period(period)):
        _book(uow, ctx, code)
        raise Problem(404, f"Kỳ {period} chưa bắt đầu hoặc trước khi phong trào bắt đầu (09/2021).")
    return _kept(uow, ctx, code, paths.period_page_path(code, period), lambda p: p.period_page(code, period))


def _kept(uow: Work, ctx: Context, code: str, path: str, render) -> Response:  # noqa: ANN001
    """A book's publication rendered on request at most once: counted against the address's
    render limit, then kept (``publisher.keep_rendered``, in the request's unit of work that the
    edge commits) and served as stored afterwards."""

    def limited(publisher: Publisher):  # noqa: ANN202
        limit_render()
        return render(publisher)

    found = find_publication(uow, ctx, code, path, limited, cached=True)
    resp = respond(found, _last_entry)
    if not found.stored and found.body is not None and found.etag is not None:
        made = Rendered(found.content_type or "", found.body)
        keep_rendered(uow, code, path, made, found.book.entries, _last_entry(found.book))
    return resp


@bp.get("/api/v1/books/<code>/entries/<int:seq>/certificate.pdf")
@public()
def certificate(uow: Work, ctx: Context, _who: Asker, code: str, seq: int) -> Response:
    """The certificate of an inscription (A4 PDF): the stored one, or rendered now and kept (it is
    not made with the entry, so that inscribing stays quick)."""
    origin = public_origin()
    # Its QR code names the origin (R15b): one made for a request's own origin is kept apart.
    key = paths.certificate_key(code, seq, None if configured_origin() else origin)
    found = find_publication(uow, ctx, code, key if seq <= MAX_SEQ and len(key) <= 255 else "", _nothing)
    if found.etag is not None or seq > MAX_SEQ:
        return respond(found)
    limit_render()
    made = queries.rendered(uow, ctx, lambda p: p.certificate_of(code, seq, origin))
    if made is None:
        raise Problem(404, "Không có ấn phẩm này.")
    if len(key) <= 255:
        store_certificate(uow, code, seq, made.rendered, made.at, made.revoked, key)
    return conditional(made.rendered.body, made.rendered.content_type, etag_of(made.rendered.body), made.at)


@bp.get("/api/v1/books/<code>/book.pdf")
@public()
def book_pdf(uow: Work, ctx: Context, _who: Asker, code: str) -> Response:
    """R15, R15a, R16: the whole book for the printed golden book — every entry in order,
    revocations marked, paged, with an index: rendered once per state of the book, then kept."""
    return _kept(uow, ctx, code, paths.book_pdf_path(code), lambda p: p.book_pdf(code))


@bp.get("/verify/<code>/<int:seq>")
@reads()
def verify_page(uow: Work, ctx: Context, _who: Asker, code: str, seq: int) -> Response:
    """R15b: the public page of one entry, checked now against the chain and the signed heads
    (never stored: it says what the book holds at this moment): counted against the address's
    render limit, as the chain is hashed again."""
    limit_render()
    found = queries.entry_check(uow, ctx, code, seq) if seq <= MAX_SEQ else None
    if found is None:
        _book(uow, ctx, code)
        raise Problem(404, f"Sổ vàng {code} không có mục số {seq}.")
    verdict = found.checked.verdict
    named = queries.rendered(uow, ctx, lambda p: p.context())
    body = pages.verify_page(
        named, code, found.book.name, found.item, holds=found.holds, first_bad_seq=verdict.first_bad_seq,
        problem=verdict.problem, signed_head=found.signed_head, latest_head=found.latest_head,
    )
    resp = Response(body, status=200, content_type=pages.HTML)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/press/<quarter>.<any(html, pdf):fmt>")
@public()
def press(uow: Work, ctx: Context, _who: Asker, quarter: str, fmt: str) -> Response:
    """The quarterly press release of the provincial book."""
    try:
        parsed = clock.Quarter.parse(quarter)
    except ValueError:
        raise Problem(404, f"Quý {quarter!r} không hợp lệ: dùng YYYY-Qn.") from None
    if not clock.in_programme(parsed, ended=True):
        # Nothing is released for a quarter not yet over, or before the programme (R16).
        raise Problem(404, f"Chưa có thông cáo báo chí của quý {quarter}.")
    org = ctx.organisations()
    province = org.province_code if org else "CAT"
    return _kept(uow, ctx, province, paths.press_path(quarter, fmt), lambda p: p.press(quarter, fmt))


@bp.get("/api/v1/figures")
@reads()
def figures(uow: Work, ctx: Context, _who: Asker) -> Response:
    """R16: the running figures; revoked entries are not counted."""
    return publication(uow, ctx, paths.FIGURES_PATH, Publisher.figures)
