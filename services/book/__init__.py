"""book: the golden books and everything published from them (API.md, book)."""

from pathlib import Path

from shared.registry import Service

SERVICE = "book"
MIGRATIONS = Path(__file__).parent / "migrations"
# /unit/revoke: the secretary's revocation form (R15a), a part of the unit's page served where the
# use case is; /audit/book: the audit record as a page (R23); /admin/parked/book: the admin's page of
# its parked messages.
PREFIXES = ("/api/v1/audit/book", "/audit/book", "/admin/parked/book", "/api/v1/books", "/api/v1/figures", "/feeds",
            "/honour-roll", "/press", "/verify", "/unit/revoke")
# Public paths (R16): nobody signs in for them, so the edge asks nobody about a session there.
PUBLIC = ("/api/v1/figures", "/feeds", "/honour-roll", "/press", "/verify")

DECLARATION = Service(
    name=SERVICE,
    migrations=MIGRATIONS,
    prefixes=PREFIXES,
    public=PUBLIC,
    runtime="services.book.app:build_runtime",
    app="services.book.app:create_app",
    worker="services.book.worker:create_worker",
    org_check="services.book.services:check_org",
    org_load="services.book.services:load_org",
    openapi="services.book.openapi:spec",
)
