"""A small OpenID Connect provider for the tests of signing in through the force's provider (R24):
discovery, JWKS, authorize and token endpoints on a free port, ID tokens signed RS256 with
joserfc. It checks what a real provider checks: the client's secret, the redirect URI, PKCE's
verifier against the challenge, a code used once."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from html import escape
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.sessions.site import OFFICER

CLIENT_ID = "so-vang"
CLIENT_SECRET = "s3cret-of-so-vang"
BUTTON = "Đăng nhập bằng tài khoản ngành"
UNKNOWN_CODE = "CAH-XX-9999"


class Provider:
    """The force's provider, as small as the flow needs. ``person`` is who signs in at its page;
    ``tamper`` changes the next ID token (claims to override, ``"key"``: sign with another key
    under the same key id), ``error`` makes the authorize endpoint answer with that error."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}, private=True)
        self.person: dict[str, Any] = {"sub": "u-0010", "preferred_username": OFFICER}
        self.tamper: dict[str, Any] = {}
        self.error: str | None = None
        # A page where the person signs in at the provider (a browser's test presses its button),
        # or, unset, the provider's answer at once (a person already signed in there).
        self.interactive = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        # ``host`` names the provider as the browser sees it (``localhost``: another site than the
        # app's 127.0.0.1, as the force's provider is).
        self.issuer = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.thread.join(5)

    @Request.application
    def app(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return self._json({
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
            })
        if request.path == "/jwks":
            return self._json({"keys": [self.key.as_dict(private=False)]})
        if request.path == "/authorize":
            return self._authorize(request)
        if request.path == "/approve" and request.method == "POST":
            return self._answer(request.form)
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        return Response("not found", 404)

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(body), status, content_type="application/json")

    def _authorize(self, request: Request) -> Response:
        if self.interactive:
            fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in request.args.items())
            return Response(f'<!doctype html><html lang="vi"><title>Tài khoản ngành</title><form method="post" '
                            f'action="/approve">{fields}<button>Xác nhận đăng nhập</button></form></html>',
                            content_type="text/html; charset=utf-8")
        return self._answer(request.args)

    def _answer(self, q: Any) -> Response:
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert "openid" in q["scope"].split() and q["code_challenge_method"] == "S256"
        assert q["state"] and q["nonce"] and q["code_challenge"]
        if self.error:
            answer = {"error": self.error, "state": q["state"]}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"],
                                "redirect_uri": q["redirect_uri"]}
            answer = {"code": code, "state": q["state"]}
        return Response(status=302, headers={"Location": q["redirect_uri"] + "?" + urlencode(answer)})

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.token_requests.append(form)
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {basic}":
            return self._json({"error": "invalid_client"}, 401)
        grant = self.codes.pop(form.get("code", ""), None)  # a code is used once
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (grant is None or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]):
            return self._json({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  **self.person}
        tamper = dict(self.tamper)
        key = tamper.pop("key", None) or self.key
        claims.update(tamper)
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                           "id_token": id_token})


def other_key() -> RSAKey:
    """A key of no provider, under the provider's key id."""
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}, private=True)
