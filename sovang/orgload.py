"""R25: one organisation loaded into every service, all or nothing as far as separate databases
allow.

Each service keeps its own copy (shared.orgcopy.store_org) in its own database, so no transaction
spans them. So: every service first says what would stop it (``check_org``: council a round still
open that the file would orphan, intake introduced deeds that a dissolved unit's round would never
take, book a closed book's code named again), and nothing is written unless none objects. Then
each service loads it in its own transaction, checking again under its locks, in the order
council, book, intake. Two things can still split the services: something changing between the
check and the write (a round opened, a deed introduced, in a unit being dissolved), which the
service concerned refuses, and a crash between two commits. Either way loading the same file
again, once the cause is dealt with, completes the others (a service that already has it
changes nothing).
"""

from __future__ import annotations

from typing import Any

from services import REGISTRY
from shared.org import OrgRefused

ORDER = ("council", "book", "intake")


def load_everywhere(runtimes: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """Load ``doc`` into every service of ``runtimes``; returns the services it changed. Raises
    ``OrgRefused`` (nothing written anywhere) when a service refuses it, or ``OrgError``."""
    services = [REGISTRY[name] for name in ORDER if name in runtimes]
    problems: list[str] = []
    for service in services:
        problems.extend(service.check_org(runtimes[service.name], doc))
    if problems:
        raise OrgRefused(problems)
    return [service.name for service in services if service.load_org(runtimes[service.name], doc)]
