"""People's sessions across the three services (R24), as every service sees them.

intake owns people and sessions: passwords, session rows, signing in and out
(``services.intake.people``). The browser holds only a random session id in the ``sovang_session``
cookie. The edge in front of the services (the dispatcher of ``sovang up``, the gateway of
``sovang cluster``, nginx's ``auth_request`` in ``deploy/``) asks intake about that cookie once per
request (``GET /api/v1/session/check``) and hands the answer to the service behind it in the
``X-Sovang-Person`` header: the person, the roles they hold, their session's CSRF token, signed by
intake with a key the services share and valid for a few seconds. So a session ended by its
person, by an admin or by ``sovang user signout`` stops working everywhere at the next request,
and no service reads another's tables.

Pure helpers here; Flask glue in ``person()`` and ``check_csrf()``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from shared.org import ROLES, Organisation

COOKIE = "sovang_session"
HEADER = "X-Sovang-Person"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# An assertion is made for one request; a few seconds cover the hop and a clock step.
ASSERTION_SECONDS = 10
# The roles a person can sign in with (press and programs use tokens).
PERSON_ROLES = tuple(r for r in ROLES if r != "press")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Person:
    """Who a session belongs to: the roles they hold now, the one they act with by default, and
    the session's CSRF token (the pages carry it in their forms)."""

    subject: str
    roles: tuple[str, ...]
    role: str
    csrf: str
    session: str  # a digest of the session id: scopes Idempotency-Keys and rate limits

    def to_dict(self) -> dict[str, object]:
        return {"subject": self.subject, "roles": list(self.roles), "role": self.role, "csrf": self.csrf,
                "session": self.session}


def session_digest(session_id: str) -> str:
    """What the database keeps of a session id: the id itself is only in the person's cookie."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def roles_of(org: Organisation, subject: str, admins: frozenset[str] | None) -> tuple[str, ...]:
    """The roles a person holds, from the organisation (R24, API.md Common); ``admin`` for the
    subjects of ``SOVANG_ADMINS``, or the province secretary when that setting is empty."""
    admin_set = admins if admins is not None else frozenset({org.province_secretary})
    held = [r for r in PERSON_ROLES if r != "admin" and org.holds_role(r, subject)]
    if subject in admin_set:
        held.append("admin")
    return tuple(held)


# -- the shared key ------------------------------------------------------------------------------
_keys: dict[str, bytes] = {}
_keys_lock = threading.Lock()


def session_key(settings: Settings) -> bytes:
    """The key intake signs assertions with and every service checks them with: the setting
    ``SOVANG_SESSION_KEY`` (the distributed deployment sets it alike for every service), or a
    random key kept in ``SOVANG_HOME/session.key``, made by the first process that needs it."""
    if settings.session_key:
        return settings.session_key.encode("utf-8")
    path = Path(settings.home) / "session.key"
    cached = _keys.get(str(path))
    if cached is not None:
        return cached
    with _keys_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        for _ in range(50):  # another process may be writing it this very moment
            text = path.read_text().strip()
            if len(text) == 64:
                break
            time.sleep(0.01)
        key = text.encode("ascii")
        _keys[str(path)] = key
        return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"===")


def sign(person: Person, key: bytes, now: float | None = None) -> str:
    """The ``X-Sovang-Person`` value for one request."""
    payload = dict(person.to_dict(), exp=int((now if now is not None else time.time()) + ASSERTION_SECONDS))
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    mac = _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
    return f"{body}.{mac}"


def verify(text: str, key: bytes, now: float | None = None) -> Person | None:
    """The person of an assertion, or None when it is forged, damaged or stale."""
    try:
        body, mac = text.strip().split(".", 1)
        good = _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, good):
            return None
        data = json.loads(_unb64(body))
        if data["exp"] < (now if now is not None else time.time()):
            return None
        return Person(str(data["subject"]), tuple(data["roles"]), str(data["role"]), str(data["csrf"]),
                      str(data["session"]))
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None


# -- in a Flask request ----------------------------------------------------------------------------
def person() -> Person | None:
    """The signed-in person of the current request, if any.

    intake, which owns the sessions, looks its cookie up itself (the app registers
    ``sovang.session_lookup``); the other services trust only a valid ``X-Sovang-Person``."""
    from flask import current_app, g, request

    if "_sovang_person" in g:
        return g._sovang_person
    found: Person | None = None
    lookup = current_app.extensions.get("sovang.session_lookup")
    if lookup is not None:
        cookie = request.cookies.get(COOKIE)
        found = lookup(cookie) if cookie else None
    else:
        header = request.headers.get(HEADER)
        if header:
            runtime = current_app.extensions["sovang"]
            found = verify(header, session_key(runtime.settings))
    g._sovang_person = found
    return found


def sent_csrf() -> str:
    from flask import request

    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = request.form.get(CSRF_FIELD)
    return sent or ""


def csrf_ok(who: Person) -> bool:
    """Whether a state-changing request made with this session carries its CSRF token (a form
    field ``csrf_token`` or the ``X-CSRF-Token`` header): another site can make the browser send
    the cookie (were SameSite ever relaxed), never read the token."""
    from flask import request

    if request.method in SAFE_METHODS:
        return True
    return hmac.compare_digest(sent_csrf(), who.csrf)
