"""Evidence files: their type is read from their first bytes, never from a name or a header."""

from __future__ import annotations


def sniff(head: bytes) -> str | None:
    """The media type of a file from its first bytes (at least 16), if it is one we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "image/heic"  # a photo from an iPhone's camera (HEIF)
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12].isalnum():
        return "video/mp4"
    return None


HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/pdf": "pdf",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "image/heic": "heic",
}
