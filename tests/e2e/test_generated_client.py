"""A client generated from the served OpenAPI document (openapi-python-client), with no code
written by hand, walks the thin path against ``sovang up``: record a deed, introduce it, open
the month's round, vote, close it, and read the deed in the unit's book. Its typed models parse
every answer, so a field the document gets wrong fails here."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import System, poll
from tests.e2e.test_thin_path import ORG_FILE, people

pytestmark = pytest.mark.slow
TZ = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture
def system(tmp_path):
    s = System(tmp_path / "home", {"SOVANG_DATABASE_URL": "", "SOVANG_BROKER_URL": ""})
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _generate(system: System, where: Path):  # noqa: ANN202
    """The client package, generated from the document the running system serves."""
    document = where / "openapi.json"
    document.write_bytes(system.http("GET", "/api/v1/openapi.json").body)
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run([str(generator), "generate", "--path", str(document), "--output-path",
                          str(where / "sovang_client"), "--meta", "none"], capture_output=True, text=True,
                         timeout=120, env={"PATH": str(Path(sys.executable).parent)})
    assert (where / "sovang_client" / "client.py").exists(), run.stdout + run.stderr
    sys.path.insert(0, str(where))
    return importlib.import_module("sovang_client")


def test_a_generated_client_walks_the_thin_path(system: System, tmp_path) -> None:
    system.cli("org", "load", str(ORG_FILE))
    dm = people("CAH-DM")
    officer, lead, sec = (system.token(role, dm[who]) for role, who in
                          (("officer", "officer"), ("subunit_lead", "lead"), ("unit_secretary", "secretary")))
    members = system.tokens("council_member", dm["members"])
    pkg = _generate(system, tmp_path)
    clients = contextlib.ExitStack()  # each client's connections closed at the end
    try:
        api = importlib.import_module("sovang_client.api")
        models = importlib.import_module("sovang_client.models")
        intake = {name: importlib.import_module(f"sovang_client.api.intake.{name}")
                  for name in ("record_deed", "introduce_deed", "get_deed")}
        council = {name: importlib.import_module(f"sovang_client.api.council.{name}")
                   for name in ("open_round", "get_round", "cast_ballot", "close_round")}
        book = {name: importlib.import_module(f"sovang_client.api.book.{name}") for name in ("list_entries", "verify_book")}
        assert api is not None

        def as_(token: str):  # noqa: ANN202
            return clients.enter_context(
                pkg.AuthenticatedClient(base_url=system.base, token=token, raise_on_unexpected_status=True))

        def anyone():  # noqa: ANN202
            return clients.enter_context(pkg.Client(base_url=system.base))

        today = dt.datetime.now(TZ).date()
        deed = intake["record_deed"].sync(client=as_(officer), body=models.DeedInput(
            author=models.DeedAuthorIn.from_dict({"officer": dm["officer"]}), occurred_on=today,
            kind=models.DeedInputKind.GOOD_DEED, relation=models.DeedInputRelation.DIRECT,
            title="Đưa cụ bà lạc đường về nhà", description="Cụ bà 80 tuổi lạc đường, được đưa về tận nhà."))
        assert isinstance(deed, models.Deed) and deed.status.value == "recorded"
        introduced = intake["introduce_deed"].sync(deed.id, client=as_(lead), body=models.IntroduceIn())
        assert introduced.status.value == "introduced"

        rnd = council["open_round"].sync(client=as_(sec), body=models.RoundInput.from_dict(
            {"council": dm["council"], "kind": "monthly", "period": today.strftime("%Y-%m")}))
        assert isinstance(rnd, models.Round)
        rnd = poll(lambda: council["get_round"].sync(rnd.id, client=as_(sec)), lambda r: r.status.value == "open")
        (candidate,) = rnd.candidates
        assert candidate.deed_id == deed.id
        for token in members:
            receipt = council["cast_ballot"].sync(rnd.id, client=as_(token), body=models.BallotInput.from_dict(
                {"choices": {candidate.id: "approve"}}))
            assert receipt.receipt
        result = council["close_round"].sync(rnd.id, client=as_(sec))
        assert isinstance(result, models.RoundResult)
        assert result.candidates[0].passed and result.candidates[0].ratio == "7/7"

        entries = poll(lambda: book["list_entries"].sync("CAH-DM", client=anyone()),
                       lambda page: any(e.deed.id == deed.id for e in page.items))
        assert any(e.deed.id == deed.id for e in entries.items)
        assert book["verify_book"].sync("CAH-DM", client=anyone()).valid is True
        final = poll(lambda: intake["get_deed"].sync(deed.id, client=as_(officer)),
                     lambda d: d.status.value == "recognised")
        assert final.status.value == "recognised"
    finally:
        clients.close()
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "sovang_client" or m.startswith("sovang_client.")]:
            del sys.modules[name]
