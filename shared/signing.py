"""Messages between services are authenticated: an HMAC-SHA256 over the envelope with a key the
services share (ARCHITECTURE.md, "Delivery guarantees"; README, "Deployment").

Anything that can push onto the broker (a process on the compose network, a leaked Redis
password) could otherwise hand the book service a ``book.inscribe`` of its own making. The relay
signs each envelope as it publishes it (``sign``); a consumer verifies before anything else
(``verified``) and parks what does not verify, so a forged message changes nothing and an
operator sees it (``sovang parked list``).

The key: ``SOVANG_MESSAGE_KEY`` (or a file named by ``SOVANG_MESSAGE_KEY_FILE``), several keys
separated by commas while one is replaced (the first signs, any verifies). Without one, the key
is the file ``message.key`` under ``SOVANG_HOME``, made on first use: what the embedded default
and ``sovang cluster`` (one home for every process) need. Containers that do not share a home
must be given the same key (docker-compose.yml does, from a secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from shared.config import Settings

log = logging.getLogger(__name__)

SIGNATURE = "sig"
KEY_FILE = "message.key"


class SignatureError(ValueError):
    """An envelope without a signature, or with one that no key made."""


def _canonical(env: dict[str, Any]) -> bytes:
    body = {k: v for k, v in env.items() if k != SIGNATURE}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(env: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _canonical(env), hashlib.sha256).hexdigest()


def sign(env: dict[str, Any], keys: list[bytes]) -> dict[str, Any]:
    """The envelope with its signature by the first key (a new dict; the outbox row is unchanged)."""
    return {**env, SIGNATURE: signature(env, keys[0])}


def verify(env: Any, keys: list[bytes]) -> None:
    """Raise ``SignatureError`` unless one of ``keys`` signed this envelope as it is."""
    if not isinstance(env, dict) or not isinstance(env.get(SIGNATURE), str):
        raise SignatureError("thư không có chữ ký (unsigned message)")
    given = env[SIGNATURE]
    if not any(hmac.compare_digest(given, signature(env, key)) for key in keys):
        raise SignatureError("chữ ký của thư không đúng (bad message signature)")


def message_keys(settings: Settings) -> list[bytes]:
    """The keys of this deployment: the setting, else ``SOVANG_HOME/message.key`` (made if missing)."""
    if settings.message_key:
        keys = [k.strip().encode("utf-8") for k in settings.message_key.split(",") if k.strip()]
        if keys:
            return keys
    return [_home_key(settings.home)]


def _home_key(home: Path) -> bytes:
    path = home / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    # Several processes may start at once: each writes its own candidate and links it into place;
    # the first link wins and every process reads the winner.
    tmp = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    try:
        os.link(tmp, path)
        log.info("message signing key created in %s", path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()
