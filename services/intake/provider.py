"""The force's OpenID Connect provider (R24), as intake's sign-in sees it, without the web:
its discovery document and signing keys (kept ``METADATA_SECONDS``, asked again at once for a key
id not yet seen) and the checks of an ID token — its signature against the provider's JWKS,
issuer, audience, nonce and expiry (``joserfc`` and Authlib's ``CodeIDToken``). What fails ends
as ``Refused``: the sentence the sign-in page shows, and whether it counts as a failed sign-in.
The two steps of the flow in the browser are ``oidc``'s."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from shared.config import Settings

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 10.0
# The provider's metadata and keys are asked again after this long, and at once for a key id
# not yet seen (the provider rotated its keys).
METADATA_SECONDS = 3600.0
# Clocks of the provider and of this server may differ by this much (seconds).
LEEWAY = 60
# Asymmetric algorithms only: a symmetric one would make the client secret a signing key.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

UNREACHABLE = ("Không liên lạc được với hệ thống tài khoản ngành; hãy thử lại sau hoặc đăng nhập bằng mật khẩu.")
REFUSED_TOKEN = "Không chấp nhận thông tin đăng nhập từ tài khoản ngành: {why}."
WHY = {
    "signature": "chữ ký không đúng với khoá của hệ thống tài khoản ngành",
    "expired": "mã xác thực đã hết hạn",
    "iss": "mã xác thực không do hệ thống tài khoản ngành đã cấu hình cấp",
    "aud": "mã xác thực không cấp cho Sổ vàng",
    "nonce": "mã xác thực không thuộc lần đăng nhập này",
    "other": "mã xác thực không hợp lệ",
}


class Refused(Exception):
    """The flow ended without a session: the sentence the sign-in page shows, and whether it
    counts as a failed sign-in towards the limits (R24)."""

    def __init__(self, status: int, sentence: str, counts: bool = False) -> None:
        super().__init__(sentence)
        self.status, self.sentence, self.counts = status, sentence, counts


# -- the provider's metadata and keys ------------------------------------------------------------------
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def _get_json(url: str) -> dict[str, Any]:
    resp = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    resp.raise_for_status()
    data = resp.json()
    if not isinstance(data, dict):
        raise ValueError(f"{url}: not a JSON object")
    return data


def _cached(url: str, force: bool = False) -> dict[str, Any]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(url)
    if hit is not None and not force and now - hit[0] < METADATA_SECONDS:
        return hit[1]
    data = _get_json(url)
    with _cache_lock:
        _cache[url] = (now, data)
    return data


def _discovery_url(settings: Settings) -> str:
    return (settings.oidc_issuer or "").rstrip("/") + "/.well-known/openid-configuration"


def metadata(settings: Settings) -> dict[str, Any]:
    """The provider's discovery document, its issuer checked to be the configured one."""
    issuer = settings.oidc_issuer or ""
    try:
        meta = _cached(_discovery_url(settings))
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID Connect discovery failed: %s", exc)
        raise Refused(502, UNREACHABLE) from exc
    if meta.get("issuer") != issuer or not all(
        isinstance(meta.get(k), str) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    ):
        log.warning("OpenID Connect discovery of %s names another issuer or lacks endpoints", issuer)
        raise Refused(502, UNREACHABLE)
    return meta


def provider_origins(settings: Settings) -> set[str]:
    """The origin of the provider's sign-in page, when discovery named one (for ``form-action``)."""
    with _cache_lock:
        hit = _cache.get(_discovery_url(settings))
    endpoint = hit[1].get("authorization_endpoint") if hit is not None else None
    if not isinstance(endpoint, str):
        return set()
    parts = urlsplit(endpoint)
    return {f"{parts.scheme}://{parts.netloc}"}


def _keys(meta: dict[str, Any], force: bool = False) -> KeySet:
    try:
        return KeySet.import_key_set(_cached(meta["jwks_uri"], force=force))  # type: ignore[arg-type]
    except (requests.RequestException, ValueError, JoseError) as exc:
        log.warning("OpenID Connect keys could not be read: %s", exc)
        raise Refused(502, UNREACHABLE) from exc


def verify_id_token(settings: Settings, meta: dict[str, Any], token: dict[str, Any], nonce: str) -> CodeIDToken:
    """The ID token's claims once its signature (the provider's JWKS), issuer, audience, nonce and
    expiry are checked; Refused with the reason otherwise."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise Refused(401, REFUSED_TOKEN.format(why=WHY["other"]), counts=True)
    allowed = [a for a in (meta.get("id_token_signing_alg_values_supported") or ["RS256"]) if a in ALGORITHMS]
    registry = JWSRegistry(algorithms=allowed or ["RS256"], strict_check_header=False)
    try:
        try:
            decoded = jwt.decode(id_token, _keys(meta), registry=registry)
        except InvalidKeyIdError:
            decoded = jwt.decode(id_token, _keys(meta, force=True), registry=registry)
        claims = CodeIDToken(
            decoded.claims, decoded.header,
            {"iss": {"essential": True, "value": settings.oidc_issuer or ""}},
            {"nonce": nonce, "client_id": settings.oidc_client_id, "access_token": token.get("access_token")},
        )
        _check_audience(claims, settings.oidc_client_id or "")
        claims.validate(leeway=LEEWAY)
    except ExpiredTokenError as exc:
        raise Refused(401, REFUSED_TOKEN.format(why=WHY["expired"]), counts=True) from exc
    except ClaimError as exc:
        why = WHY.get(exc.claim, WHY["other"])
        raise Refused(401, REFUSED_TOKEN.format(why=why), counts=True) from exc
    except (BadSignatureError, InvalidKeyIdError) as exc:
        raise Refused(401, REFUSED_TOKEN.format(why=WHY["signature"]), counts=True) from exc
    except (JoseError, ValueError) as exc:
        raise Refused(401, REFUSED_TOKEN.format(why=WHY["other"]), counts=True) from exc
    return claims


def _check_audience(claims: CodeIDToken, client_id: str) -> None:
    """The token must name this client among its audience (OpenID Connect Core 3.1.3.7)."""
    aud = claims.get("aud")
    if aud is None:
        raise MissingClaimError("aud")
    if client_id not in (aud if isinstance(aud, list) else [aud]):
        raise InvalidClaimError("aud")
