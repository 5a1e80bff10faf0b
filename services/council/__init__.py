"""council: councils, rounds, ballots, tallies, decisions, dossiers, summaries (API.md, council)."""

from pathlib import Path

SERVICE = "council"
MIGRATIONS = Path(__file__).parent / "migrations"
# The pages for people: the member's ballot page, the dashboard, the secretaries' rounds, the
# unit's and the province's pages; /admin/parked/council: the admin's page of its parked messages.
PREFIXES = ("/api/v1/audit/council", "/audit/council", "/admin/parked/council", "/api/v1/rounds", "/api/v1/reports",
            "/api/v1/dossiers", "/ballot", "/dashboard", "/rounds", "/unit", "/province")
