"""council: councils, rounds, ballots, tallies, decisions, dossiers, summaries (API.md, council)."""

from pathlib import Path

from shared.registry import Service

SERVICE = "council"
MIGRATIONS = Path(__file__).parent / "migrations"
# The pages for people: the member's ballot page, the dashboard, the secretaries' rounds, the
# unit's and the province's pages; /admin/parked/council: the admin's page of its parked messages.
PREFIXES = ("/api/v1/audit/council", "/audit/council", "/admin/parked/council", "/api/v1/rounds", "/api/v1/reports",
            "/api/v1/dossiers", "/ballot", "/dashboard", "/rounds", "/unit", "/province")

DECLARATION = Service(
    name=SERVICE,
    migrations=MIGRATIONS,
    prefixes=PREFIXES,
    beat=True,
    runtime="services.council.app:build_runtime",
    app="services.council.app:create_app",
    worker="services.council.worker:create_worker",
    org_check="services.council.services:check_org",
    org_load="services.council.services:load_org",
    openapi="services.council.openapi:spec",
)
