"""R25: one organisation loaded into every service, all or nothing as far as separate databases
allow.

Each service keeps its own copy (shared.auth.store_org) in its own database, so no transaction
spans them. So: every service first says what would stop it (``check_org``: council an open round
the file would orphan, book a closed book's code named again), and nothing is written unless none
objects; then each service loads it in its own transaction, checking again under its locks, in the
order council, book, intake — council first, because only its objection can appear between the
check and the write (a round opened meanwhile), and a refusal there still leaves every database as
it was. What can still split the services is a crash between two commits; loading the same file
again then completes the others (a service that already has it changes nothing).
"""

from __future__ import annotations

import importlib
from typing import Any

from shared.org import OrgRefused

ORDER = ("council", "book", "intake")


def load_everywhere(runtimes: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """Load ``doc`` into every service of ``runtimes``; returns the services it changed. Raises
    ``OrgRefused`` (nothing written anywhere) when a service refuses it, or ``OrgError``."""
    modules = {name: importlib.import_module(f"services.{name}.services") for name in ORDER if name in runtimes}
    problems: list[str] = []
    for name, services in modules.items():
        problems.extend(services.check_org(runtimes[name], doc))
    if problems:
        raise OrgRefused(problems)
    return [name for name, services in modules.items() if services.load_org(runtimes[name], doc)]
