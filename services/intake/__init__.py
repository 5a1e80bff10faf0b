"""intake: officers' deeds, evidence, introductions (API.md, intake)."""

from pathlib import Path

from shared.registry import Service

SERVICE = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"
# The HTTP path prefixes this service owns on the shared origin.
# "/" is the sign-in page (exactly that path); intake owns people and sessions (R24).
# The pages of officers, leads and admins, and the pages' one stylesheet and script (/static).
PREFIXES = ("/api/v1/audit/intake", "/audit/intake", "/api/v1/deeds", "/api/v1/session", "/", "/session", "/deeds", "/introduce",
            "/admin", "/static")

DECLARATION = Service(
    name=SERVICE,
    migrations=MIGRATIONS,
    prefixes=PREFIXES,
    runtime="services.intake.app:build_runtime",
    app="services.intake.app:create_app",
    worker="services.intake.worker:create_worker",
    org_check="services.intake.services:check_org",
    org_load="services.intake.services:load_org",
    openapi="services.intake.openapi:spec",
)
