"""An organisation load from the admin's page (R25), as the saga keeps it: the file, who sent it,
where it stands as a whole and at each service (``services.intake.organisation`` tells the story)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# The order of the command line (``sovang.orgload.ORDER``): council first, so that no round is
# orphaned by the others going ahead; intake last.
ORDER = ("council", "book", "intake")
# The load as a whole: checking → refused | loading → loaded | stopped.
RUNNING = ("checking", "loading")


@dataclass(frozen=True)
class OrgLoad:
    id: str
    file: str
    digest: str
    document: dict[str, Any]
    requested_by: str  # the admin's code
    requested_at: dt.datetime
    state: str
    # {service: {"state": checking|ready|refused|loading|loaded|load_refused, "problems": [...],
    #  "changed": bool}}
    steps: dict[str, dict[str, Any]]
    finished_at: dt.datetime | None = None
