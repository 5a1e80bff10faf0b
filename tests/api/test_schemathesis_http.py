"""The served OpenAPI document, proven from outside: schemathesis (its own command, ``st run``)
over HTTP against the three services on one origin, served by a real WSGI server — every check,
the examples, coverage, fuzzing and stateful phases, tokens of several roles — finds nothing.

What a schema cannot say and the document states in words (R3's date window, an author or a
council that must exist in the organisation, the candidates a member is entitled to, the counts
of paper ballots, an evidence file's type read from its bytes) is refused with a 422 (or a 415)
to requests the schema allows: for those operations alone, and for those statuses alone, a
refusal of schema-valid data is expected. Everything else is as strict as schemathesis makes it.

Seeded and bounded (a few examples per operation); marked ``slow``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from shared.config import Settings
from tests.api.system import build_system

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
ST = Path(sys.executable).with_name("st")

# Operations whose 422 (or 415) answers a rule no schema states, described in the operation.
BUSINESS_RULES = {
    "recordDeed": "R3 and the organisation: occurred_on within the window, an author that exists",
    "recordDeeds": "the same, deed by deed",
    "openRound": "a council of the organisation, a period of the round's kind, a deadline ahead",
    "castBallot": "exactly the candidates the member is entitled to",
    "enterPaperBallots": "the counts reconcile (R19a)",
    "addEvidence": "the file's type is read from its first bytes (415)",
}
ROLES = {  # operationId → the role whose token it is tried with (the unit secretary otherwise)
    "castBallot": "council_member",
    "monthlyReport": "province_secretary",
    "listDossiers": "province_secretary",
}


def _config(tokens: dict[str, str]) -> str:
    lines = [
        "seed = 20",
        "[generation]",
        "max-examples = 5",
        "with-security-parameters = false",
        "database = \"none\"",
        "[phases.stateful]",
        "max-steps = 20",
        f'[headers]\nAuthorization = "Bearer {tokens["unit_secretary"]}"',
    ]
    # No broker runs beside this server: /readyz says so with its 503, which is the truth.
    lines += ["[[operations]]", 'include-path = "/readyz"', "enabled = false"]
    for op in sorted(BUSINESS_RULES):
        statuses = '["2xx", "3xx", "401", "403", "404", "409", "422", "429", "415"]'
        lines += ["[[operations]]", f'include-operation-id = "{op}"',
                  f"checks.positive_data_acceptance.expected-statuses = {statuses}"]
        if op in ROLES:
            lines.append(f'headers = {{Authorization = "Bearer {tokens[ROLES[op]]}"}}')
    for op, role in sorted(ROLES.items()):
        if op not in BUSINESS_RULES:
            lines += ["[[operations]]", f'include-operation-id = "{op}"',
                      f'headers = {{Authorization = "Bearer {tokens[role]}"}}']
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded", "distributed"])
def test_schemathesis_finds_nothing_over_http(backend, request, tmp_path, org_document) -> None:
    """On the embedded default (SQLite) and on PostgreSQL + Redis alike."""
    settings = Settings(home=tmp_path / "home") if backend == "embedded" else request.getfixturevalue("pg_settings")
    system = build_system(settings, org_document)
    request.addfinalizer(system.close)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request is noise here
    server = make_server("127.0.0.1", 0, system.gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(system.tokens), "utf-8")
        url = f"http://127.0.0.1:{server.server_port}/api/v1/openapi.json"
        # Run where it may keep its files (a cache of crashes): the test's folder, not the repository.
        env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"}
        run = subprocess.run(
            [str(ST), "--config-file", str(config), "run", url, "--checks", "all",
             "--phases", "examples,coverage,fuzzing,stateful", "--workers", "1", "--no-color"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    report = run.stdout[-20000:] + run.stderr[-5000:]
    print(run.stdout[run.stdout.rfind("SUMMARY"):])
    assert run.returncode == 0, report
    assert "No issues found" in run.stdout or " passed" in run.stdout, report
