"""R16: the press office's feeds of one golden book — Atom 1.0 and RSS 2.0 (built with feedgen)
and JSON Feed 1.1 — newest first, stable ids, paged as RFC 5005 archives, with the chain head.

Text goes in exactly as inscribed and is always text: Atom ``type="text"``, RSS descriptions
entity-encoded HTML of the plain text, JSON Feed ``content_text``; no deed's text is ever markup.

Every link is absolute (RSS 2.0 and JSON Feed require it) and each entry links to its page, the
public verification page ``/verify/{book}/{seq}`` (R15b). A document is stored once for every
origin it is served from: its links start with ``BASE``, a marker no stored text can hold (R4a
refuses noncharacters), which ``absolute`` replaces with the public origin as it is served. The
document carries the head signed when the book reached its last entry (R15b), as ``sv:chain``'s
attributes (Atom, RSS) and ``_sovang.signed_head`` (JSON Feed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from dataclasses import dataclass
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator

from services.book.domain.publication import KIND_LABELS, PublicItem, publishable_item
from services.book.domain.witness import SignedHead
from shared.text import publishable

ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
SV_NS = "urn:sovang:book"  # the chain head of the book (R15)
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
EPOCH = dt.datetime(2021, 9, 1, tzinfo=dt.UTC)
# Where the public origin goes in a stored document (noncharacters: never in stored text, R4a).
BASE = "\ufdd0sovang-base\ufdd1"
_BASE_BYTES = BASE.encode("utf-8")


def absolute(body: bytes, origin: str) -> bytes:
    """A stored document with its links made absolute under ``origin`` (``https://host[:port]``,
    checked by the caller to hold nothing XML or JSON would have to escape)."""
    return body.replace(_BASE_BYTES, origin.encode("ascii"))


@dataclass(frozen=True)
class FeedDoc:
    """One feed document of a book: the current one, or archive ``archive``."""

    book: str
    book_name: str
    province_name: str
    programme: str
    items: list[PublicItem]  # newest first
    entries: int  # the book's entries when generated
    head: str | None  # the book's chain head when generated
    signed_head: SignedHead | None = None  # R15b: that head, signed
    archive: int | None = None  # None: the current (subscription) document
    prev_archive: int | None = None
    next_archive: int | None = None

    def path(self, fmt: str, archive: int | None = None) -> str:
        if archive is None:
            return f"{BASE}/feeds/{self.book}.{fmt}"
        return f"{BASE}/feeds/{self.book}/archive/{archive}.{fmt}"

    @property
    def title(self) -> str:
        suffix = f" — lưu trữ {self.archive}" if self.archive else ""
        return f"Sổ vàng lập công — {self.book_name}{suffix}"

    @property
    def subtitle(self) -> str:
        return f"{self.programme}. {self.province_name}."

    @property
    def updated(self) -> dt.datetime:
        return max((i.instant for i in self.items), default=EPOCH)

    def feed_id(self) -> str:
        return f"urn:sovang:book:{self.book}" + (f":archive:{self.archive}" if self.archive else "")


def item_id(item: PublicItem) -> str:
    """A stable id per entry, the same in every format and every document."""
    return f"urn:sovang:book:{item.book}:entry:{item.seq}"


def item_link(item: PublicItem) -> str:
    """The entry's page a person reads (R15b: what it records, revoked or not, the chain)."""
    return f"{BASE}/verify/{item.book}/{item.seq}"


def certificate_link(item: PublicItem) -> str:
    return f"{BASE}/api/v1/books/{item.book}/entries/{item.seq}/certificate.pdf"


def home_link(book: str) -> str:
    return f"{BASE}/honour-roll/{book}/"


def _history_links(doc: FeedDoc, fmt: str) -> list[tuple[str, str]]:
    links = []
    if doc.archive is not None:
        links.append(("current", doc.path(fmt)))
    if doc.prev_archive:
        links.append(("prev-archive", doc.path(fmt, doc.prev_archive)))
    if doc.next_archive:
        links.append(("next-archive", doc.path(fmt, doc.next_archive)))
    return links


def _chain_extension(doc: FeedDoc, fmt: str) -> type[BaseExtension]:
    """A feedgen extension adding RFC 5005 markers and the chain head to the document."""

    class ChainExtension(BaseExtension):
        def extend_ns(self) -> dict[str, str]:
            return {"fh": FH_NS, "sv": SV_NS}

        def _extend(self, parent: Any, link_tag: str) -> None:
            from lxml import etree

            if doc.archive is not None:
                etree.SubElement(parent, f"{{{FH_NS}}}archive")
            if link_tag:
                for rel, href in _history_links(doc, fmt):
                    etree.SubElement(parent, link_tag, href=href, rel=rel)
            chain = etree.SubElement(parent, f"{{{SV_NS}}}chain")
            chain.set("book", doc.book)
            chain.set("entries", str(doc.entries))
            chain.set("head", doc.head or "")
            if doc.signed_head is not None:
                chain.set("signed_at", doc.signed_head.signed_at)
                chain.set("signature", doc.signed_head.signature)
                chain.set("key_id", doc.signed_head.key_id)

        def extend_atom(self, feed: Any) -> Any:
            self._extend(feed, "")  # Atom history links go through feedgen itself
            return feed

        def extend_rss(self, feed: Any) -> Any:
            self._extend(feed[0], f"{{{ATOM_NS}}}link")
            return feed

    return ChainExtension


class EntryLinks(BaseEntryExtension):
    """Extra links of one entry (feedgen 1.0 drops ``rel`` and ``type`` of entry links)."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def _extend(self, entry: Any, tag: str) -> Any:
        from lxml import etree

        for link in self.links:
            etree.SubElement(entry, tag, **link)
        return entry

    def extend_atom(self, entry: Any) -> Any:
        return self._extend(entry, "link")  # as feedgen writes its own: the feed's default namespace

    def extend_rss(self, entry: Any) -> Any:
        return self._extend(entry, f"{{{ATOM_NS}}}link")


def _generator(doc: FeedDoc, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("sovang", _chain_extension(doc, fmt), EntryLinks)
    fg.id(doc.feed_id())
    fg.title(doc.title)
    fg.subtitle(doc.subtitle)
    fg.description(doc.subtitle)
    fg.language("vi")
    fg.author({"name": doc.province_name})
    fg.generator("Sổ vàng lập công")
    if fmt == "rss":
        fg.load_extension("dc", atom=False, rss=True)
    fg.link(href=doc.path(fmt, doc.archive), rel="self")
    if fmt == "atom":
        for rel, href in _history_links(doc, fmt):
            fg.link(href=href, rel=rel)
    # Last, as RSS's channel link is the last link given.
    fg.link(href=home_link(doc.book), rel="alternate", type="text/html")
    fg.updated(doc.updated)
    fg.lastBuildDate(doc.updated)
    # feedgen prepends: add the oldest first so the newest ends up first.
    for item in reversed(doc.items):
        fe = fg.add_entry()
        fe.id(item_id(item))
        fe.guid(item_id(item), permalink=False)
        fe.title(item.title.strip() or f"Mục số {item.seq}")  # Atom requires one; a paper entry may lack it
        fe.updated(item.instant)
        fe.published(item.instant)
        fe.link(href=item_link(item), rel="alternate", type="text/html")
        if item.honoured:
            fe.sovang.links.append({"href": certificate_link(item), "rel": "related", "type": "application/pdf"})
            if item.author_name:
                fe.author({"name": item.author_name})
                if fmt == "rss":
                    fe.dc.dc_creator(item.author_name)
            label = KIND_LABELS.get((item.deed or {}).get("kind", ""))
            if label:
                fe.category(term=(item.deed or {}).get("kind"), label=label)
        if fmt == "atom":
            fe.content(item.text, type="text")
        else:
            # RSS readers take a description as HTML: the plain text, entity-encoded.
            fe.description(html.escape(item.text).replace("\n", "<br/>\n"))
    return fg


def _publishable(doc: FeedDoc) -> FeedDoc:
    """R4a: nothing in a feed that XML 1.0 or UTF-8 cannot carry (a control character, U+FFFE,
    a lone surrogate …), whatever the book or the organisation holds: one entry's text never
    takes a feed down. Items from ``public_items`` are already clean (this costs a scan)."""
    return dataclasses.replace(
        doc,
        book_name=publishable(doc.book_name)[0],
        province_name=publishable(doc.province_name)[0],
        programme=publishable(doc.programme)[0],
        items=[publishable_item(i) for i in doc.items],
    )


def atom(doc: FeedDoc) -> bytes:
    return _generator(_publishable(doc), "atom").atom_str(pretty=True)


def rss(doc: FeedDoc) -> bytes:
    return _generator(_publishable(doc), "rss").rss_str(pretty=True)


def json_feed(doc: FeedDoc) -> bytes:
    """JSON Feed 1.1; ``next_url`` pages to older items (the previous archive)."""
    doc = _publishable(doc)
    items = []
    for item in doc.items:
        entry: dict[str, Any] = {
            "id": item_id(item),
            "url": item_link(item),
            "title": item.title,
            "content_text": item.text,
            "date_published": item.inscribed_at,
            "date_modified": item.inscribed_at,
            "_sovang": {"seq": item.seq, "kind": item.kind, "revoked": item.revoked, "hash": item.hash},
        }
        if item.honoured:
            if item.author_name:
                entry["authors"] = [{"name": item.author_name}]
            label = KIND_LABELS.get((item.deed or {}).get("kind", ""))
            if label:
                entry["tags"] = [label]
            entry["attachments"] = [{"url": certificate_link(item), "mime_type": "application/pdf"}]
        items.append(entry)
    body: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": doc.title,
        "home_page_url": home_link(doc.book),
        "feed_url": doc.path("json", doc.archive),
        "description": doc.subtitle,
        "language": "vi",
        "authors": [{"name": doc.province_name}],
        "items": items,
        "_sovang": {
            "book": doc.book,
            "entries": doc.entries,
            "head": doc.head,
            "signed_head": doc.signed_head.public() if doc.signed_head else None,
            "archive": doc.archive,
            "current_url": doc.path("json"),
        },
    }
    if doc.prev_archive:
        body["next_url"] = doc.path("json", doc.prev_archive)
    # Compact: with ``indent`` json.dumps takes its pure-Python encoder, most of the cost of the
    # feeds an inscription writes in its own transaction (R16); readers parse it either way.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


RENDERERS = {"atom": atom, "rss": rss, "json": json_feed}
