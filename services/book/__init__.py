"""book: the golden books and everything published from them (API.md, book)."""

from pathlib import Path

SERVICE = "book"
MIGRATIONS = Path(__file__).parent / "migrations"
PREFIXES = ("/api/v1/audit/book", "/api/v1/books", "/api/v1/figures", "/feeds", "/honour-roll", "/press", "/verify")
# Public paths (R16): nobody signs in for them, so the edge asks nobody about a session there.
PUBLIC = ("/api/v1/figures", "/feeds", "/honour-roll", "/press", "/verify")
