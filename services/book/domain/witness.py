"""R15b: the witnessed chain — every head a book ever had, signed by the book service's key.

A signed head says "book B had N entries, the last of them hashed H, at instant T", signed
(Ed25519) over the canonical text of ``{"format", "book", "entries", "head", "signed_at"}``. The
private key lives outside the database, so whoever can rewrite a book's tables can delete signed
heads but cannot make new ones: a chain rebuilt from entry 1 with fresh hashes disagrees with
every head signed before, and its own new head is signed by nobody. ``check`` holds a book's
stored entries against every head signed for it; the signatures themselves are checked by the
caller's ``valid_signature`` (the keys are not the domain's business).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from services.book.domain.chain import canonical

FORMAT = "sovang-head/1"


@dataclass(frozen=True)
class SignedHead:
    book: str
    entries: int
    head: str
    signed_at: str  # ISO 8601 with its offset, exactly as signed
    signature: str  # base64 of the 64-byte Ed25519 signature
    key_id: str

    def public(self) -> dict[str, object]:
        """What the API and the feeds publish (API.md, heads)."""
        return asdict(self)


def message(book: str, entries: int, head: str, signed_at: str) -> bytes:
    """The bytes a head's signature covers (canonical JSON, R15)."""
    return canonical({"format": FORMAT, "book": book, "entries": entries, "head": head, "signed_at": signed_at})


@dataclass(frozen=True)
class Witnessed:
    """What the signed heads say of a book: the first entry they contradict or leave unsigned
    (None: every entry up to the last is under a signed head that matches), and why."""

    signed: int  # heads whose signature holds
    first_bad_seq: int | None = None
    problem: str | None = None
    latest: SignedHead | None = None  # the newest signed head that holds and matches

    @property
    def valid(self) -> bool:
        return self.first_bad_seq is None


def check(
    hashes: Mapping[int, str],
    count: int,
    heads: Iterable[SignedHead],
    valid_signature: Callable[[SignedHead], bool],
) -> Witnessed:
    """R15b: hold the chain as stored (``hashes``: {seq: hash}, ``count`` entries) against every
    head ever signed for it. A head whose signature fails, a signed head the chain no longer has,
    and entries after the last head that matches are each a break; the earliest one is named."""
    worst: tuple[int, str] | None = None

    def bad(seq: int, why: str) -> None:
        nonlocal worst
        if worst is None or seq < worst[0]:
            worst = (seq, why)

    signed = 0
    latest: SignedHead | None = None
    for h in sorted(heads, key=lambda h: h.entries):
        if not valid_signature(h):
            bad(max(h.entries, 1), f"chữ ký của đầu chuỗi ở mục số {h.entries} không hợp lệ (khóa {h.key_id})")
            continue
        signed += 1
        if h.entries > count:
            bad(count + 1, f"đầu chuỗi đã ký ở mục số {h.entries} nhưng sổ chỉ còn {count} mục")
        elif hashes.get(h.entries) != h.head:
            bad(h.entries, f"mục số {h.entries} không khớp với đầu chuỗi đã ký lúc {h.signed_at}")
        elif latest is None or h.entries > latest.entries:
            latest = h
    witnessed = latest.entries if latest else 0
    if count > witnessed:
        bad(witnessed + 1, f"từ mục số {witnessed + 1} trở đi không có đầu chuỗi nào được ký")
    if worst is None:
        return Witnessed(signed, latest=latest)
    return Witnessed(signed, worst[0], worst[1], latest)
