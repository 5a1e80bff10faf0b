"""The press office's feeds (R16): Atom 1.0, RSS 2.0 and JSON Feed 1.1 of a book, newest first,
stable ids, ETag / Last-Modified with 304, RFC 5005 archives, the chain head; hostile text
stays text. Parsed by an XML parser and by feedparser."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from book_helpers import UNIT, deed_copy

feedparser = pytest.importorskip("feedparser")

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
SV = "{urn:sovang:book}"

HOSTILE = [
    "<script>alert('xss')</script> Cứu người đuối nước",
    '"><img src=x onerror=alert(1)> Đội CSGT giúp dân',
    "Dọn ]]> cây đổ <![CDATA[ sau bão ]]>",
    "javascript:alert(document.cookie) & <b>đậm</b> &amp; ổ ữ Đ",
]


def texts(xml: bytes) -> list[str]:
    return [el.text or "" for el in ET.fromstring(xml).iter()]


def test_atom_feed_is_well_formed_with_the_deed_newest_first(client, inscribe):
    for n in range(3):
        inscribe(UNIT, deed=deed_copy(f"Việc tốt thứ {n} — Đắk Mil"))
    r = client.get(f"/feeds/{UNIT}.atom")
    assert r.status_code == 200
    assert r.mimetype == "application/atom+xml" and r.mimetype_params["charset"] == "utf-8"
    root = ET.fromstring(r.data)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [f"Việc tốt thứ {n} — Đắk Mil" for n in (2, 1, 0)]
    assert [e.findtext(f"{ATOM}id") for e in entries] == [f"urn:sovang:book:{UNIT}:entry:{s}" for s in (3, 2, 1)]
    assert all(e.find(f"{ATOM}content").get("type") == "text" for e in entries)
    parsed = feedparser.parse(r.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.title for e in parsed.entries] == [f"Việc tốt thứ {n} — Đắk Mil" for n in (2, 1, 0)]
    assert parsed.entries[0].author == "Thiếu tá Phan Thành Ngân"
    assert "6/7 thành viên tán thành" in parsed.entries[0].content[0].value


def test_rss_and_json_feed_carry_the_same_entries(client, inscribe):
    for n in range(2):
        inscribe(UNIT, deed=deed_copy(f"Việc tốt {n}"))
    rss = client.get(f"/feeds/{UNIT}.rss")
    assert rss.status_code == 200 and rss.mimetype == "application/rss+xml"
    assert ET.fromstring(rss.data).tag == "rss"
    parsed = feedparser.parse(rss.data)
    assert not parsed.bozo and parsed.version == "rss20"
    assert [e.title for e in parsed.entries] == ["Việc tốt 1", "Việc tốt 0"]
    assert [e.id for e in parsed.entries] == [f"urn:sovang:book:{UNIT}:entry:{s}" for s in (2, 1)]

    jf = client.get(f"/feeds/{UNIT}.json")
    assert jf.status_code == 200 and jf.mimetype == "application/feed+json"
    body = json.loads(jf.data)
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert body["title"] and body["feed_url"] == f"http://localhost/feeds/{UNIT}.json"
    assert [i["title"] for i in body["items"]] == ["Việc tốt 1", "Việc tốt 0"]
    assert [i["id"] for i in body["items"]] == [f"urn:sovang:book:{UNIT}:entry:{s}" for s in (2, 1)]
    assert all(i["content_text"] and i["date_published"].endswith("+07:00") for i in body["items"])
    assert body["_sovang"]["head"] == client.get(f"/api/v1/books/{UNIT}/entries/2").get_json()["hash"]


def test_an_empty_book_has_valid_empty_feeds(client):
    for fmt in ("atom", "rss"):
        r = client.get(f"/feeds/{UNIT}.{fmt}")
        assert r.status_code == 200
        parsed = feedparser.parse(r.data)
        assert not parsed.bozo and parsed.entries == []
    assert json.loads(client.get(f"/feeds/{UNIT}.json").data)["items"] == []


def test_the_chain_head_is_published_with_every_feed(client, inscribe):
    inscribe(UNIT)
    inscribe(UNIT)
    head = client.get(f"/api/v1/books/{UNIT}/verify").get_json()["head"]
    for fmt in ("atom", "rss"):
        r = client.get(f"/feeds/{UNIT}.{fmt}")
        assert r.headers["X-Chain-Head"] == head and r.headers["X-Chain-Entries"] == "2"
        chain = next(ET.fromstring(r.data).iter(f"{SV}chain"))
        assert (chain.get("head"), chain.get("entries"), chain.get("book")) == (head, "2", UNIT)
    assert json.loads(client.get(f"/feeds/{UNIT}.json").data)["_sovang"]["entries"] == 2


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_and_bodies_stay_literal_text(client, inscribe, title):
    inscribe(UNIT, deed=deed_copy(title, description=f"{title}\n<a href=\"javascript:alert(1)\">bấm</a>"))
    atom = client.get(f"/feeds/{UNIT}.atom").data
    rss = client.get(f"/feeds/{UNIT}.rss").data
    # Well-formed, and the title is a text node exactly as inscribed: never an element.
    assert title in texts(atom) and title in texts(rss)
    for xml in (atom, rss):
        tags = {el.tag.split("}")[-1] for el in ET.fromstring(xml).iter()}
        assert not tags & {"script", "img", "a", "b"}
    parsed_atom = feedparser.parse(atom)
    assert not parsed_atom.bozo
    assert parsed_atom.entries[0].title == title
    assert parsed_atom.entries[0].title_detail.type == "text/plain"
    assert parsed_atom.entries[0].content[0].type == "text/plain"
    assert parsed_atom.entries[0].content[0].value.startswith(title)
    parsed_rss = feedparser.parse(rss)
    assert not parsed_rss.bozo and parsed_rss.entries[0].title == title
    # The RSS description is HTML whose text is the deed's text: its markup is entity-encoded.
    summary = parsed_rss.entries[0].summary
    assert "<script" not in summary and "<img" not in summary and "<a " not in summary
    item = json.loads(client.get(f"/feeds/{UNIT}.json").data)["items"][0]
    assert item["title"] == title and item["content_text"].startswith(title)


def test_etag_and_last_modified_give_304(client, inscribe):
    inscribe(UNIT)
    for fmt in ("atom", "rss", "json"):
        r = client.get(f"/feeds/{UNIT}.{fmt}")
        etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
        assert etag.startswith('"') and modified.endswith("GMT")
        again = client.get(f"/feeds/{UNIT}.{fmt}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""
        assert client.get(f"/feeds/{UNIT}.{fmt}", headers={"If-Modified-Since": modified}).status_code == 304
        assert client.get(f"/feeds/{UNIT}.{fmt}", headers={"If-None-Match": '"other"'}).status_code == 200
        assert client.get(f"/feeds/{UNIT}.{fmt}", headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}).status_code == 200
    # A new entry changes the feed: the old ETag no longer matches.
    etag = client.get(f"/feeds/{UNIT}.atom").headers["ETag"]
    inscribe(UNIT)
    r = client.get(f"/feeds/{UNIT}.atom", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag


def test_the_feed_is_generated_when_the_entry_arrives_not_per_request(client, runtime, inscribe):
    inscribe(UNIT)
    first = client.get(f"/feeds/{UNIT}.atom")
    second = client.get(f"/feeds/{UNIT}.atom")
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    from services.book import queries
    from services.book.app import run
    from services.book.publication.feeds import absolute

    stored = run(runtime, queries.artifact, f"/feeds/{UNIT}.atom")
    assert stored is not None and absolute(stored.body, "http://localhost") == first.data


def test_long_books_are_paged_as_rfc5005_archives(client, inscribe, monkeypatch):
    from services.book.domain import publication

    monkeypatch.setattr(publication, "FEED_PAGE", 3)
    for n in range(1, 8):
        inscribe(UNIT, deed=deed_copy(f"Việc {n}"))
    # 7 entries, pages of 3: archives 1 (1-3) and 2 (4-6); the current document holds the newest 3.
    current = ET.fromstring(client.get(f"/feeds/{UNIT}.atom").data)
    assert [e.findtext(f"{ATOM}title") for e in current.findall(f"{ATOM}entry")] == ["Việc 7", "Việc 6", "Việc 5"]
    links = {link.get("rel"): link.get("href") for link in current.findall(f"{ATOM}link")}
    assert links["prev-archive"] == f"http://localhost/feeds/{UNIT}/archive/2.atom" and current.find(f"{FH}archive") is None

    second = client.get(f"/feeds/{UNIT}/archive/2.atom")
    assert second.status_code == 200
    root = ET.fromstring(second.data)
    assert root.find(f"{FH}archive") is not None
    assert [e.findtext(f"{ATOM}title") for e in root.findall(f"{ATOM}entry")] == ["Việc 6", "Việc 5", "Việc 4"]
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links["prev-archive"] == f"http://localhost/feeds/{UNIT}/archive/1.atom" and links["current"] == f"http://localhost/feeds/{UNIT}.atom"
    assert "next-archive" not in links
    chain = next(root.iter(f"{SV}chain"))
    assert chain.get("entries") == "6"
    assert chain.get("head") == client.get(f"/api/v1/books/{UNIT}/entries/6").get_json()["hash"]

    first = ET.fromstring(client.get(f"/feeds/{UNIT}/archive/1.atom").data)
    links = {link.get("rel"): link.get("href") for link in first.findall(f"{ATOM}link")}
    assert links["next-archive"] == f"http://localhost/feeds/{UNIT}/archive/2.atom" and "prev-archive" not in links
    assert not feedparser.parse(client.get(f"/feeds/{UNIT}/archive/1.rss").data).bozo
    assert json.loads(client.get(f"/feeds/{UNIT}/archive/2.json").data)["next_url"] == f"http://localhost/feeds/{UNIT}/archive/1.json"
    assert client.get(f"/feeds/{UNIT}/archive/3.atom").status_code == 404
    assert client.get(f"/feeds/{UNIT}/archive/0.atom").status_code == 404
