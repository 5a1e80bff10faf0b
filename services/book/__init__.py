"""book: the golden books and everything published from them (API.md, book)."""

from pathlib import Path

from shared.registry import Service

SERVICE = "book"
MIGRATIONS = Path(__file__).parent / "migrations"
# /unit/revoke: the secretary's revocation form (R15a), a part of the unit's page served where the
# use case is; /province/press: the press release before publication, for the province secretary
# (a part of the province's page, UI.md); /audit/book: the audit record as a page (R23);
# /admin/parked/book: the admin's page of its parked messages.
PREFIXES = ("/api/v1/audit/book", "/audit/book", "/admin/parked/book", "/api/v1/books", "/api/v1/figures", "/feeds",
            "/honour-roll", "/press", "/verify", "/unit/revoke", "/province/press")
# Public paths (R16): nobody signs in for them, so the edge asks nobody about a session there...
PUBLIC = ("/api/v1/figures", "/feeds", "/honour-roll", "/press", "/verify")
# ...but on its public pages, where a signed-in reader sees their masthead (UI.md), when a session
# cookie comes; the feeds and figures are for programs and never pay it.
PUBLIC_PAGES = ("/honour-roll", "/press", "/verify")

DECLARATION = Service(
    name=SERVICE,
    migrations=MIGRATIONS,
    prefixes=PREFIXES,
    public=PUBLIC,
    public_pages=PUBLIC_PAGES,
    runtime="services.book.app:build_runtime",
    app="services.book.app:create_app",
    worker="services.book.worker:create_worker",
    org_check="services.book.services:check_org",
    org_load="services.book.services:load_org",
    openapi="services.book.openapi:spec",
)
