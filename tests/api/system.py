"""The three services on one origin, in process, with the organisation loaded and tokens for
several roles: what the API tests of the whole contract run against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services import REGISTRY
from shared.auth import new_token, store_token
from shared.config import Settings
from sovang.cli import _runtimes
from sovang.gateway import Gateway, create_gateway

# Roles and subjects of the Đắk Nông organisation (shared/data/dak-nong.json) that reach most
# of the API between them.
SUBJECTS = {
    "officer": "CAH-DM-0010",
    "subunit_lead": "CAH-DM-0009",
    "unit_secretary": "CAH-DM-0008",
    "council_member": "CAH-DM-0001",
    "province_secretary": "CAT-0012",
    "press": "BBT-CAT",
}


@dataclass
class System:
    settings: Settings
    gateway: Gateway
    runtimes: dict[str, Any]
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def close(self) -> None:
        """Give back every connection: the runtimes that loaded the organisation and the
        gateway's own."""
        for rt in self.runtimes.values():
            rt.db.dispose()
        self.gateway.close()


def build_system(settings: Settings, org_document: dict) -> System:
    runtimes = _runtimes(settings)
    for name, rt in runtimes.items():
        REGISTRY[name].load_org(rt, org_document)
    tokens = {role: new_token() for role in SUBJECTS}
    for rt in runtimes.values():
        with rt.db.unit_of_work() as uow:
            for role, subject in SUBJECTS.items():
                store_token(uow, tokens[role], role, subject, 1)
            uow.commit()
    return System(settings, create_gateway(settings), runtimes, tokens)
