"""council: councils, rounds, ballots, tallies, decisions, dossiers, summaries (API.md, council)."""

from pathlib import Path

SERVICE = "council"
MIGRATIONS = Path(__file__).parent / "migrations"
# /ballot and /dashboard: the pages for people (the member's ballot page, the province's dashboard).
PREFIXES = ("/api/v1/audit/council", "/api/v1/rounds", "/api/v1/reports", "/api/v1/dossiers", "/ballot", "/dashboard")
