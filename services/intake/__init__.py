"""intake: officers' deeds, evidence, introductions (API.md, intake)."""

from pathlib import Path

SERVICE = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"
# The HTTP path prefixes this service owns on the shared origin.
PREFIXES = ("/api/v1/deeds",)
