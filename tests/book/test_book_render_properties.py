"""R4a, R16 as a property: whatever Unicode an entry holds — any code point, lone surrogates,
controls and noncharacters included — and whatever the organisation's names are, every renderer
of the book answers, and what it answers parses: Atom and RSS with an XML parser and feedparser,
JSON Feed as UTF-8 JSON, the pages as UTF-8 HTML, the PDFs with pypdf."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.book.domain import publication as pub
from services.book.domain.entries import Entry
from services.book.publication import feeds, pages, pdf

feedparser = pytest.importorskip("feedparser")

# Every code point, surrogates (category Cs) included: what a stored JSON escape can hold.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)


def _entries(texts: dict[str, str]) -> list[Entry]:
    deed = {
        "id": "d1", "title": texts["title"], "description": texts["description"], "kind": "feat",
        "relation": "direct", "occurred_on": "2024-05-02", "unit": "CAH-DM",
        "author": {"officer": "CAH-DM-0001", "name": texts["author"]}, texts["key"]: texts["value"],
    }
    decision = {"number": texts["number"], "date": "2024-06-07", "issuer": "CAH-DM", "issuer_name": texts["issuer"]}
    tally = {"approve": 6, "entitled": 7, "ratio": "6/7", "period": "2024-05"}
    common = {"inscribed_at": "2024-06-07T17:05:00+07:00", "hash": "a" * 64, "prev_hash": "0" * 64,
              "revokes": None, "reason": None}
    return [Entry.of({"book": "CAH-DM", **row}) for row in (
        {**common, "seq": 1, "kind": "inscription", "deed": deed, "decision": decision, "tally": tally},
        {**common, "seq": 2, "kind": "inscription", "deed": {**deed, "id": "d2"}, "decision": decision,
         "tally": tally},
        {**common, "seq": 3, "kind": "revocation", "revokes": 2, "reason": texts["reason"], "deed": {},
         "decision": {}, "tally": {}},
    )]


class _Html(HTMLParser):
    pass


TEXTS = st.fixed_dictionaries({name: ANY_TEXT for name in (
    "title", "description", "author", "key", "value", "number", "issuer", "reason", "book_name", "province",
)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=TEXTS)
def test_feeds_and_pages_render_and_parse_whatever_the_text(texts):
    items = pub.public_items("CAH-DM", _entries(texts))
    doc = feeds.FeedDoc(book="CAH-DM", book_name=texts["book_name"], province_name=texts["province"],
                        programme=texts["title"], items=list(reversed(items)), entries=3, head="a" * 64)
    for render in (feeds.atom, feeds.rss):
        body = render(doc)
        ET.fromstring(body)
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert len(parsed.entries) == 3
    assert len(json.loads(feeds.json_feed(doc).decode("utf-8"))["items"]) == 3
    ctx = pages.Context(texts["province"], texts["title"], "2021-09-01", lambda code: texts["issuer"])
    for body in (
        pages.book_page(ctx, "CAH-DM", texts["book_name"], items, 3, "a" * 64),
        pages.period_page(ctx, "CAH-DM", texts["book_name"], "2024-05", items, 3, "a" * 64),
        pages.press_page(ctx, "CAT", "2024-Q2", items, 2),
    ):
        parser = _Html()
        parser.feed(body.decode("utf-8"))
        parser.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=TEXTS)
def test_pdfs_render_and_parse_whatever_the_text(texts):
    items = pub.public_items("CAH-DM", _entries(texts))
    ctx = pages.Context(texts["province"], texts["title"], "2021-09-01", lambda code: texts["issuer"])
    for body in (
        pdf.certificate(ctx, texts["book_name"], items[0]),
        pdf.certificate(ctx, texts["book_name"], items[1]),  # the notice of its revocation
        pdf.press_release(ctx, "CAT", "2024-Q2", items, 2),
    ):
        reader = pypdf.PdfReader(io.BytesIO(body))
        assert reader.pages and reader.pages[0].extract_text() is not None
