"""R16: the honour-roll pages and the press release, as HTML from autoescaped Jinja templates: the
book's own (``services/book/templates``) on the one layout and stylesheet of every page
(``shared/web``). They are rendered for nobody in particular, so that they can be stored and served
to anyone; ``signed_in`` adds a signed-in reader's part of the masthead as a page is served."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from markupsafe import Markup

from services.book.domain import publication as pub
from services.book.domain.publication import PublicItem
from shared.text import publishable

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SHARED_TEMPLATES = Path(__file__).resolve().parents[3] / "shared" / "web" / "templates"
HTML = "text/html; charset=utf-8"

def _publishable(value: Any) -> Any:
    """R4a: what a page shows holds no control, noncharacter or lone surrogate (the items are
    already cleaned; names from the organisation and anything else go through here)."""
    if not isinstance(value, str):
        return value
    text = publishable(value)[0]
    # Markup (already escaped) stays Markup, or autoescape would escape it a second time.
    return Markup(text) if isinstance(value, Markup) else text


_env = Environment(
    loader=ChoiceLoader([FileSystemLoader(TEMPLATES), FileSystemLoader(SHARED_TEMPLATES)]),
    autoescape=True,  # every value is text; a deed's "<script>" is shown, never run
    finalize=_publishable,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.globals.update(
    date_vi=pub.date_vi,
    instant_vi=pub.instant_vi,
    inscribed_vi=pub.inscribed_vi,
    period_label=pub.period_label,
    kind_label=lambda kind: pub.KIND_LABELS.get(kind, kind),
    relation_label=lambda rel: pub.RELATION_LABELS.get(rel, rel),
)

LATEST_ON_INDEX = 30


@dataclass(frozen=True)
class Context:
    """What every page says of the organisation."""

    province_name: str
    programme: str
    since: str
    unit_name: Callable[[str], str]

    def values(self) -> dict[str, Any]:
        return {"province_name": self.province_name, "programme": self.programme, "unit_name": self.unit_name}


def _render(template: str, ctx: Context, **values: Any) -> bytes:
    # person=None: the public masthead, whoever asked (``signed_in`` adds a reader's).
    return _env.get_template(template).render(**ctx.values(), person=None, **values).encode("utf-8")


# Where a page's masthead ends and what follows it, in every page of the layout (``_signed_in.html``
# holds what a signed-in person adds at those two places).
_MASTHEAD_END = b"</header>\n"


def signed_in(body: bytes, person: Any, person_name: str, role_pages: list[tuple[str, str]], path: str) -> bytes:
    """A stored page as a signed-in person sees it: the same page with who they are, the
    **Đăng xuất** button and the pages of their roles in its masthead, as every page has
    (``shared/web/templates/layout.html``). A page without the layout's masthead is left as is."""
    at = body.find(_MASTHEAD_END)
    if at < 0:
        return body
    macros = _env.get_template("_signed_in.html").make_module(
        {"person": person, "person_name": person_name, "role_pages": role_pages, "request": {"path": path}})
    who = str(macros.who()).encode("utf-8")
    roles = str(macros.roles()).encode("utf-8")
    end = at + len(_MASTHEAD_END)
    return body[:at] + who + body[at:end] + roles + body[end:]


def books_page(ctx: Context, books: Iterable[Mapping[str, Any]]) -> bytes:
    return _render("books.html", ctx, books=list(books))


def book_page(
    ctx: Context, book: str, book_name: str, items: list[PublicItem], entries: int, head: str | None,
    signed_head: Any = None,
) -> bytes:
    """A book's honour roll from every item of the book (what ``book_index`` is given, recounted)."""
    shown = [i for i in items if i.kind == pub.INSCRIPTION]
    return book_index(
        ctx,
        book,
        book_name,
        honoured=sum(1 for i in shown if i.honoured),
        periods=pub.periods_of(items),
        quarters=[q for q in pub.quarters_of(items) if q not in {p for p, _ in pub.periods_of(items)}],
        latest=list(reversed(shown))[:LATEST_ON_INDEX],
        entries=entries,
        head=head,
        signed_head=signed_head,
    )


def book_index(
    ctx: Context,
    book: str,
    book_name: str,
    *,
    honoured: int,
    periods: list[tuple[str, int]],
    quarters: list[str],
    latest: list[PublicItem],
    entries: int,
    head: str | None,
    signed_head: Any = None,
    closed_on: str | None = None,
) -> bytes:
    """A book's honour roll: its periods (with the deeds still honoured in each), the quarters that
    are not periods themselves, and its newest inscriptions, newest first; a closed book (R25)
    says so (``closed_on``, dd/mm/yyyy)."""
    return _render(
        "book.html",
        ctx,
        book=book,
        book_name=book_name,
        honoured=honoured,
        periods=periods,
        quarters=quarters,
        latest=latest,
        entries=entries,
        head=head,
        signed_head=signed_head,
        closed_on=closed_on,
    )


def period_page(
    ctx: Context, book: str, book_name: str, period: str, items: list[PublicItem], entries: int, head: str | None
) -> bytes:
    """A book's honour roll of one month or quarter, in the order inscribed."""
    chosen = pub.honoured_in(items, period)
    return _render(
        "period.html",
        ctx,
        book=book,
        book_name=book_name,
        period=period,
        items=chosen,
        honoured=sum(1 for i in chosen if i.honoured),
        entries=entries,
        head=head,
    )


def verify_page(
    ctx: Context, book: str, book_name: str, item: PublicItem, *, holds: bool, first_bad_seq: int | None,
    problem: str | None, signed_head: Any, latest_head: Any,
) -> bytes:
    """R15b: the public verification page of one entry: what it records, whether it is revoked,
    whether the chain holds up to it, and the signed heads."""
    return _render(
        "verify.html", ctx, book=book, book_name=book_name, item=item, holds=holds, first_bad_seq=first_bad_seq,
        problem=problem, signed_head=signed_head, latest_head=latest_head,
    )


def press_page(
    ctx: Context, book: str, quarter: str, items: list[PublicItem], province_total: int, draft: str | None = None,
) -> bytes:
    """R16: the quarterly press release of the provincial book; ``draft`` (an ISO instant): the
    same release as it stands at that instant, before its quarter ends, marked as a draft not yet
    published."""
    chosen = pub.honoured_in(items, quarter)
    text = pub.press_text(ctx.province_name, quarter, sum(1 for i in chosen if i.honoured), province_total, ctx.since)
    return _render(
        "press.html",
        ctx,
        book=book,
        quarter=quarter,
        items=chosen,
        headline=text.headline,
        lead=text.lead,
        running=text.running,
        draft=draft,
    )
