"""intake: officers' deeds, evidence, introductions (API.md, intake)."""

from pathlib import Path

SERVICE = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"
# The HTTP path prefixes this service owns on the shared origin.
# "/" is the sign-in page (exactly that path); intake owns people and sessions (R24).
# The pages of officers, leads and admins, and the pages' one stylesheet and script (/static).
PREFIXES = ("/api/v1/audit/intake", "/audit/intake", "/api/v1/deeds", "/api/v1/session", "/", "/session", "/deeds", "/introduce",
            "/admin", "/static")
