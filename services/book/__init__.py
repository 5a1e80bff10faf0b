"""book: the golden books and everything published from them (API.md, book)."""

from pathlib import Path

SERVICE = "book"
MIGRATIONS = Path(__file__).parent / "migrations"
# /unit/revoke: the secretary's revocation form (R15a), a part of the unit's page served where the
# use case is; /audit/book: the audit record as a page (R23); /admin/parked/book: the admin's page of
# its parked messages.
PREFIXES = ("/api/v1/audit/book", "/audit/book", "/admin/parked/book", "/api/v1/books", "/api/v1/figures", "/feeds",
            "/honour-roll", "/press", "/verify", "/unit/revoke")
# Public paths (R16): nobody signs in for them, so the edge asks nobody about a session there.
PUBLIC = ("/api/v1/figures", "/feeds", "/honour-roll", "/press", "/verify")
