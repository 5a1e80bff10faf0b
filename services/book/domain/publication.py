"""R15a, R16: what the public sees of a golden book, and how feeds are paged (RFC 5005).

Only inscriptions are public, and only their public fields; an inscription that was revoked
leaves every page and feed, and a notice stands in its place. Every item is publishable (R4a):
what no format can carry (controls, noncharacters, lone surrogates) is replaced and logged, so
one entry's text never takes a feed, page or certificate down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.book.domain.entries import INSCRIPTION, REVOCATION, Entry, period_matches, period_of, quarter_of
from shared import clock
from shared.text import publishable

log = logging.getLogger(__name__)

# Entries per feed document: the current document holds the newest, archives the older ones.
FEED_PAGE = 50

KIND_LABELS = {
    "good_deed": "Việc tốt",
    "achievement": "Thành tích",
    "feat": "Chiến công",
    "exemplar": "Gương người tốt",
}
RELATION_LABELS = {"direct": "Trực tiếp vì Nhân dân", "indirect": "Gián tiếp vì Nhân dân"}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True)
class PublicItem:
    """One entry as the public sees it: a deed honoured, or a notice."""

    book: str
    seq: int
    kind: str  # inscription | revocation
    revoked: bool
    title: str
    text: str
    inscribed_at: str
    hash: str
    period: str | None = None
    deed: dict[str, Any] | None = None
    decision: dict[str, Any] = field(default_factory=dict)
    tally: dict[str, Any] = field(default_factory=dict)
    revokes: int | None = None
    revoked_by: int | None = None
    reason: str | None = None

    @property
    def honoured(self) -> bool:
        """A deed still honoured (not a notice)."""
        return self.kind == INSCRIPTION and not self.revoked

    @property
    def author_name(self) -> str:
        return ((self.deed or {}).get("author") or {}).get("name", "")

    @property
    def instant(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.inscribed_at)


def date_vi(iso_date: str | None) -> str:
    """``2024-05-07`` → ``07/05/2024``."""
    if not iso_date:
        return ""
    try:
        return dt.date.fromisoformat(iso_date[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return iso_date


def instant_vi(iso_instant: str | None) -> str:
    """``2024-06-07T17:05:00+07:00`` → ``17:05 ngày 07/06/2024`` (Asia/Ho_Chi_Minh)."""
    if not iso_instant:
        return ""
    try:
        local = clock.local(dt.datetime.fromisoformat(iso_instant))
    except ValueError:
        return iso_instant
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def inscribed_vi(item: PublicItem) -> str:
    """When an entry was written: ``lúc 17:05 ngày 07/06/2024``; an entry from a paper book
    (R22) is known by its day only: ``ngày 18/10/2021 (sổ vàng giấy)``."""
    if item.decision.get("source") == "paper":
        return f"ngày {date_vi(item.inscribed_at)} (sổ vàng giấy)"
    return f"lúc {instant_vi(item.inscribed_at)}"


def period_label(period: str | None) -> str:
    """``2024-05`` → ``Tháng 5/2024``; ``2024-Q2`` → ``Quý II/2024``."""
    if not period:
        return ""
    try:
        q = clock.Quarter.parse(period)
        return f"Quý {ROMAN[q.q]}/{q.year}"
    except ValueError:
        pass
    try:
        m = clock.Month.parse(period)
        return f"Tháng {m.month}/{m.year}"
    except ValueError:
        return period


def valid_period(period: str) -> bool:
    for kind in (clock.Month, clock.Quarter):
        try:
            kind.parse(period)
            return True
        except ValueError:
            continue
    return False


def deed_text(deed: Mapping[str, Any], decision: Mapping[str, Any], tally: Mapping[str, Any], seq: int) -> str:
    """The plain text of an honoured deed, as feeds carry it (never markup)."""
    lines = [deed.get("description", ""), ""]
    author = (deed.get("author") or {}).get("name", "")
    if author:
        lines.append(f"Tác giả: {author}")
    kind = KIND_LABELS.get(deed.get("kind", ""), deed.get("kind", ""))
    relation = RELATION_LABELS.get(deed.get("relation", ""), deed.get("relation", ""))
    lines.append(f"Loại: {kind} — {relation}")
    lines.append(f"Ngày: {date_vi(deed.get('occurred_on'))}")
    if decision.get("number"):
        issuer = decision.get("issuer_name") or decision.get("issuer") or ""
        lines.append(f"Quyết định công nhận số {decision['number']} ngày {date_vi(decision.get('date'))} của {issuer}")
    if tally.get("ratio"):
        lines.append(f"Biểu quyết: {tally.get('approve')}/{tally.get('entitled')} thành viên tán thành")
    lines.append(f"Sổ vàng, mục số {seq}")
    return "\n".join(lines)


def revoked_notice(seq: int, revoked_by: int, reason: str | None) -> str:
    return (
        f"Công nhận ghi tại mục số {seq} đã bị thu hồi (mục số {revoked_by}). "
        f"Lý do: {reason or ''}".strip()
    )


def _clean(value: Any, replaced: list[int]) -> Any:
    """``value`` with every string (keys too) made publishable; ``replaced`` counts the changes."""
    if isinstance(value, str):
        text, n = publishable(value)
        if n:
            replaced[0] += n
        return text
    if isinstance(value, Mapping):
        return {_clean(k, replaced): _clean(v, replaced) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, replaced) for v in value]
    return value


_TEXT_FIELDS = ("title", "text", "inscribed_at", "hash", "period", "deed", "decision", "tally", "reason")


def publishable_item(item: PublicItem) -> PublicItem:
    """R4a: ``item`` as every format can carry it. The entry itself (and its hash) stays as
    inscribed; only what is published is replaced, and the replacement is logged."""
    replaced = [0]
    changes = {name: _clean(getattr(item, name), replaced) for name in _TEXT_FIELDS}
    if not replaced[0]:
        return item
    log.warning(
        "book %s entry %s: %d character(s) no publication can carry (controls, noncharacters, lone "
        "surrogates) published as U+FFFD", item.book, item.seq, replaced[0],
    )
    return dataclasses.replace(item, **changes)


def public_items(
    book: str,
    entries: Iterable[Entry],
    revocations: Mapping[int, Mapping[str, Any]] | None = None,
    periods: Mapping[int, str | None] | None = None,
) -> list[PublicItem]:
    """R15a, R16: entries of a book, by ``seq``, as the public may see them.

    ``entries`` are in ``seq`` order: the whole book, or
    some of it with what lies outside given beside: ``revocations`` ({revoked seq: the revoking
    entry's ``seq`` and ``reason``}) and ``periods`` ({seq: period} of the entries its revocations
    revoke).
    """
    entries = list(entries)
    revoked_by = {**(revocations or {}),
                  **{e.revokes: {"seq": e.seq, "reason": e.reason} for e in entries if e.kind == REVOCATION}}
    by_seq = {e.seq: e for e in entries}
    periods = periods or {}
    items: list[PublicItem] = []
    for e in entries:
        common = {"book": book, "seq": e.seq, "inscribed_at": e.inscribed_at, "hash": e.hash}
        if e.kind == REVOCATION:
            items.append(
                PublicItem(
                    **common,
                    kind=REVOCATION,
                    revoked=False,
                    title=f"Thu hồi công nhận mục số {e.revokes}",
                    text=revoked_notice(e.revokes, e.seq, e.reason),
                    revokes=e.revokes,
                    reason=e.reason,
                    decision=dict(e.decision or {}),
                    period=period_of(by_seq[e.revokes]) if e.revokes in by_seq else periods.get(e.revokes),
                )
            )
            continue
        revocation = revoked_by.get(e.seq)
        if revocation is not None:
            items.append(
                PublicItem(
                    **common,
                    kind=INSCRIPTION,
                    revoked=True,
                    title=f"Mục số {e.seq}: công nhận đã bị thu hồi",
                    text=revoked_notice(e.seq, revocation["seq"], revocation.get("reason")),
                    period=period_of(e),
                    revoked_by=revocation["seq"],
                    reason=revocation.get("reason"),
                )
            )
            continue
        deed = dict(e.deed)
        decision = dict(e.decision or {})
        tally = dict(e.tally or {})
        items.append(
            PublicItem(
                **common,
                kind=INSCRIPTION,
                revoked=False,
                title=deed.get("title", ""),
                text=deed_text(deed, decision, tally, e.seq),
                period=period_of(e),
                deed=deed,
                decision=decision,
                tally=tally,
            )
        )
    return [publishable_item(i) for i in items]


def honoured_in(items: Iterable[PublicItem], period: str) -> list[PublicItem]:
    """The items of a month's or a quarter's honour roll (notices of revoked ones included)."""
    return [i for i in items if i.kind == INSCRIPTION and period_matches(i.period, period)]


def periods_of(items: Iterable[PublicItem]) -> list[tuple[str, int]]:
    """(period, deeds still honoured) for every period a book has entries in, newest first."""
    counts: dict[str, int] = {}
    for i in items:
        if i.kind == INSCRIPTION and i.period:
            counts[i.period] = counts.get(i.period, 0) + (1 if i.honoured else 0)
    return sorted(counts.items(), reverse=True)


def quarters_of(items: Iterable[PublicItem]) -> list[str]:
    return sorted({q for i in items if i.kind == INSCRIPTION and (q := quarter_of(i.period))}, reverse=True)


# -- RFC 5005 paging ----------------------------------------------------------------------------
def archive_count(entries: int) -> int:
    """How many complete archive documents a book of ``entries`` entries has.

    Archive k (from 1) holds entries (k-1)*FEED_PAGE+1 .. k*FEED_PAGE and never changes once
    complete, except when one of its entries is revoked. An archive is published once an entry
    beyond it exists.
    """
    return (entries - 1) // FEED_PAGE if entries > 0 else 0


def archive_range(k: int) -> tuple[int, int]:
    return (k - 1) * FEED_PAGE + 1, k * FEED_PAGE


def current_range(entries: int) -> tuple[int, int]:
    """The current (subscription) document: always the newest FEED_PAGE entries, which may
    overlap the newest archive (RFC 5005 readers keep one copy per entry id)."""
    return max(1, entries - FEED_PAGE + 1), entries


def archive_of(seq: int, entries: int) -> int | None:
    """The archive document holding ``seq``, or None when it is in the current one."""
    k = (seq - 1) // FEED_PAGE + 1
    return k if k <= archive_count(entries) else None


# -- the quarterly press release ----------------------------------------------------------------
@dataclass(frozen=True)
class PressText:
    headline: str
    lead: str
    running: str


def press_text(province_name: str, quarter: str, honoured: int, province_total: int, since: str) -> PressText:
    """R16: the words of the quarterly press release of the provincial book."""
    label = period_label(quarter)
    if honoured:
        headline = f"{province_name} ghi danh {honoured} việc tốt tiêu biểu {label} vào Sổ vàng lập công"
        lead = (
            f"Hội đồng xét việc tốt vì Nhân dân Công an tỉnh đã xét chọn {honoured} việc tốt tiêu biểu nhất "
            f"{label}, mỗi việc được từ 80% thành viên Hội đồng tán thành, để ghi vào Sổ vàng lập công "
            f"– Mỗi ngày một việc tốt vì Nhân dân và vinh danh, lan tỏa trong cán bộ, chiến sĩ và Nhân dân."
        )
    else:
        headline = f"{province_name}: chưa có việc tốt nào được ghi vào Sổ vàng lập công {label}"
        lead = f"Sổ vàng lập công của Công an tỉnh chưa ghi danh việc tốt nào trong {label}."
    running = (
        f"Từ ngày {date_vi(since)} đến hết {label}, Công an tỉnh đã xét chọn và công nhận "
        f"{province_total} việc tốt để ghi vào Sổ vàng lập công."
    )
    return PressText(headline, lead, running)
