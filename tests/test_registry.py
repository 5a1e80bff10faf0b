"""The services' registry (shared.registry, services.REGISTRY): every part a service declares
is there with the shape the contract names, so that ``sovang`` never looks a part up by name."""

from __future__ import annotations

import inspect

import pytest

from services import REGISTRY
from shared.config import SERVICES
from shared.registry import _resolve

PARTS = {"runtime": ["settings"], "app": ["settings", "runtime"], "worker": ["settings", "runtime"],
         "org_check": ["uow", "ctx", "doc"], "org_load": ["uow", "ctx", "doc", "actor", "details"], "openapi": []}


def test_the_registry_names_the_services_of_the_settings_in_their_order() -> None:
    assert tuple(REGISTRY) == SERVICES
    assert all(service.name == name for name, service in REGISTRY.items())


@pytest.mark.parametrize("name", SERVICES)
def test_each_declared_part_is_a_function_of_the_contract(name: str) -> None:
    service = REGISTRY[name]
    for part, params in PARTS.items():
        function = _resolve(getattr(service, part))
        assert list(inspect.signature(function).parameters) == params, (name, part)
    assert (service.migrations / "env.py").is_file()
    assert set(service.public) <= set(service.prefixes)


def test_no_path_prefix_has_two_owners_and_one_service_runs_the_schedule() -> None:
    prefixes = [p for service in REGISTRY.values() for p in service.prefixes]
    assert len(prefixes) == len(set(prefixes))
    assert [s.name for s in REGISTRY.values() if s.beat] == ["council"]
