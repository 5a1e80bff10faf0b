"""Messages between services are authenticated (shared.signing): a message pushed onto the broker
by anyone without the key changes nothing and is parked, on a real Redis and a real worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.book import repository as repo
from shared import clock
from shared.celery_app import make_celery
from shared.config import Settings
from shared.db import utcnow
from shared.messages import envelope
from shared.signing import SignatureError, message_keys, sign, verify
from shared.tables import inbox, parked_messages
from tests.book.book_helpers import UNIT, inscribe_command, make_runtime

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return envelope(inscribe_command(UNIT), clock.isoformat(utcnow()))


def test_a_signed_envelope_verifies_and_any_change_breaks_it():
    keys = [b"k1" * 16]
    env = sign(_env(), keys)
    verify(env, keys)
    tampered = {**env, "payload": {**env["payload"], "book": "CAT"}}
    with pytest.raises(SignatureError):
        verify(tampered, keys)
    with pytest.raises(SignatureError):
        verify({k: v for k, v in env.items() if k != "sig"}, keys)
    with pytest.raises(SignatureError):
        verify(sign(_env(), [b"another key"]), keys)
    # While a key is replaced both verify; the first listed signs.
    verify(env, [b"new key", *keys])


def test_the_key_is_made_once_under_sovang_home_or_read_from_a_file(tmp_path):
    home = tmp_path / "home"
    first = message_keys(Settings(home=home))
    assert first == message_keys(Settings(home=home)) and len(first[0]) == 64
    assert (home / "message.key").stat().st_mode & 0o777 == 0o600
    secret = tmp_path / "key"
    secret.write_text("from-a-secret-file\n")
    settings = Settings.from_env({"SOVANG_HOME": str(home), "SOVANG_MESSAGE_KEY_FILE": str(secret)})
    assert message_keys(settings) == [b"from-a-secret-file"]
    assert message_keys(Settings.from_env({"SOVANG_MESSAGE_KEY": "a,b"})) == [b"a", b"b"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float = 60.0):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.mark.distributed
@pytest.mark.slow
def test_a_forged_inscribe_pushed_on_the_broker_changes_nothing_and_is_parked(pg_settings, org_document):
    runtime = make_runtime(pg_settings, org_document)
    port = free_port()
    env = {**os.environ, "SOVANG_HOME": str(pg_settings.home), "SOVANG_DATABASE_URL": pg_settings.database_url,
           "SOVANG_BROKER_URL": pg_settings.broker_url, "SOVANG_METRICS_PORT": str(port), "SOVANG_LOG_JSON": "1"}
    pg_settings.home.mkdir(parents=True, exist_ok=True)
    log = open(pg_settings.home / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "-m", "sovang.cli", "worker", "book", "--pool", "solo"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        keys = message_keys(pg_settings)
        unsigned = _env()
        wrong_key = sign(_env(), [b"a key the services do not have"])
        # A real message's id and signature on another payload: a replay with the body changed.
        genuine = sign(_env(), keys)
        altered = {**genuine, "payload": {**genuine["payload"], "source": "forged:1"}}
        # The same message as the relay sends it: proves the worker consumes while the others wait.
        control = sign({**_env(), "request_id": "req-of-the-close"}, keys)
        app = make_celery("intake", pg_settings)  # any producer on the broker, sending by name
        for forged in (unsigned, wrong_key, altered, control):
            app.send_task("book.inscribe", args=[forged], queue="book", task_id=forged["id"])
        app.close()

        def settled() -> bool:
            with runtime.db.reading() as s:
                parked = s.execute(sa.select(sa.func.count()).select_from(parked_messages)).scalar()
                return parked == 3 and repo.get_book(s, UNIT).entries == 1

        assert _wait(settled), (pg_settings.home / "worker.log").read_text("utf-8", "replace")[-3000:]
        with runtime.db.reading() as s:
            book = repo.get_book(s, UNIT)
            entries = repo.book_entries(s, UNIT)
            rows = s.execute(sa.select(parked_messages)).mappings().all()
            handled = set(s.execute(sa.select(inbox.c.message_id)).scalars())
        assert book.entries == 1 and [e.deed["id"] for e in entries] == [control["payload"]["deed"]["id"]]
        forged_ids = {unsigned["id"], wrong_key["id"], altered["id"]}
        assert control["id"] in handled and not handled & forged_ids
        assert sorted(r["error"] for r in rows) == sorted([
            "thư không có chữ ký (unsigned message)",
            "chữ ký của thư không đúng (bad message signature)",
            "chữ ký của thư không đúng (bad message signature)",
        ])
        # Kept as received, for an operator; under ids of their own, never the one they claimed.
        assert {r["envelope"]["id"] for r in rows} == forged_ids
        assert not {r["message_id"] for r in rows} & forged_ids

        # What the worker counted (its /metrics), and its log line about the genuine one.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            exposition = answer.read().decode()
        assert 'sovang_messages_total{outcome="rejected",service="book",type="book.inscribe"} 3.0' in exposition
        assert 'sovang_messages_total{outcome="applied",service="book",type="book.inscribe"} 1.0' in exposition
        assert 'sovang_parked_messages{service="book"} 3.0' in exposition
        from tests.ops.test_observability import promtool

        checked = promtool("check", "metrics", stdin=exposition.encode())
        assert checked.returncode == 0, checked.stdout + checked.stderr
        events = [json.loads(line) for line in (pg_settings.home / "worker.log").read_text("utf-8").splitlines()
                  if line.startswith("{")]
        mine = [e for e in events if e.get("message_id") == control["id"]]
        assert mine and all(e["request_id"] == "req-of-the-close" and e["service"] == "book" for e in mine)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
        runtime.db.dispose()
