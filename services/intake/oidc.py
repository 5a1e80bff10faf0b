"""Signing in through the force's OpenID Connect provider (R24), where one is configured.

With ``SOVANG_OIDC_ISSUER`` and ``SOVANG_OIDC_CLIENT_ID`` set, the sign-in page offers
**Đăng nhập bằng tài khoản ngành** beside the password form. It starts the authorization code
flow with PKCE (S256), ``state`` and ``nonce`` (Authlib's ``OAuth2Session``), the provider's
endpoints read from ``{issuer}/.well-known/openid-configuration``. The callback exchanges the
code, checks the ID token (its signature against the provider's JWKS, issuer, audience, nonce,
expiry: ``joserfc`` and Authlib's ``CodeIDToken``) and takes the officer code from the claim
``SOVANG_OIDC_SUBJECT_CLAIM`` (``preferred_username``). The person then gets the very session a
password gives (``people.sign_in_vouched``): the same cookie, CSRF token, idle expiry, sign-in
limits and R23 line (``session.signed_in`` with ``"method": "oidc"``).

What the flow must remember between the two requests (state, nonce, the PKCE verifier, where to
go next and a form kept across an expired session) is in a short-lived cookie signed with the
session key: intake keeps no row for a flow that may never come back. That cookie is
``SameSite=Lax``, unlike the session's: the provider sends the browser back from another site.
Every way the flow can fail ends on the sign-in page with a sentence saying why, never with a
session.

This module is the flow's edge (its two views and its cookie); the provider's discovery, keys and
the ID token's checks are ``provider``'s, and the session is ``people``'s use case, run and
committed by ``in_request.signing_in``.
"""

from __future__ import annotations

import hmac
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from flask import Blueprint, Response, abort, current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

from services.intake import people
from services.intake.api.session import set_cookie
from services.intake.in_request import address, runtime, signing_in, write
from services.intake.provider import (
    HTTP_TIMEOUT,
    UNREACHABLE,
    Refused,
    metadata,
    provider_origins,
    verify_id_token,
)
from shared.config import Settings
from shared.problems import Problem, as_problem
from shared.refusals import Refused as SignInRefused
from shared.sessions import session_key
from shared.web import oidc_offered, page, safe_next, signin_page

bp = Blueprint("intake_oidc", __name__)

START = "/session/oidc"
CALLBACK = "/session/oidc/callback"
FLOW_COOKIE = "sovang_oidc"
# A person has this long at the provider's page before the flow must start again.
FLOW_SECONDS = 600
METHOD = "oidc"

BAD_STATE = ("Yêu cầu đăng nhập bằng tài khoản ngành không khớp hoặc đã quá hạn; hãy bấm lại "
             "“Đăng nhập bằng tài khoản ngành”.")
DENIED = "Bạn đã huỷ hoặc bị từ chối đăng nhập ở trang tài khoản ngành."
PROVIDER_ERROR = "Hệ thống tài khoản ngành báo lỗi ({error}); bạn chưa được đăng nhập."
NO_CODE = "Hệ thống tài khoản ngành không gửi mã cấp quyền; hãy thử lại."
NO_CLAIM = "Tài khoản ngành không cho biết mã cán bộ (trường “{claim}”); hãy hỏi quản trị."
UNKNOWN = "Tài khoản ngành {code} không ứng với cán bộ nào trong tổ chức đã nạp; hãy hỏi quản trị."


# -- the flow's cookie ---------------------------------------------------------------------------------
def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_key(settings), salt="sovang-oidc-flow")


def _read_flow(settings: Settings) -> dict[str, str] | None:
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        return None
    try:
        flow = _serializer(settings).loads(raw, max_age=FLOW_SECONDS)
    except BadData:
        return None
    return flow if isinstance(flow, dict) and all(isinstance(flow.get(k), str) for k in ("state", "nonce", "verifier")) else None


def _client(settings: Settings, meta: dict[str, Any]) -> OAuth2Session:
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if not settings.oidc_client_secret:
        auth = "none"  # a public client: PKCE alone proves the code is ours
    elif "client_secret_basic" not in methods and "client_secret_post" in methods:
        auth = "client_secret_post"
    else:
        auth = "client_secret_basic"
    return OAuth2Session(
        client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        token_endpoint_auth_method=auth, scope=settings.oidc_scope, redirect_uri=_redirect_uri(settings),
        code_challenge_method="S256", default_timeout=HTTP_TIMEOUT,
    )


def _redirect_uri(settings: Settings) -> str:
    return (settings.public_url or request.url_root.rstrip("/")) + CALLBACK


def _back(settings: Settings, status: int, sentence: str, kept: str, target: str) -> Response:
    """The sign-in page saying why signing in through the provider did not happen."""
    return signin_page(status, settings, provider_origins(settings), error=sentence, kept=kept, next=target,
                       subject="", errors={}, reason=None)


# -- the two steps ---------------------------------------------------------------------------------------
@bp.post(START)
def start() -> Response:
    """**Đăng nhập bằng tài khoản ngành**: off to the provider's sign-in page."""
    settings = runtime().settings
    if not settings.oidc:
        abort(404)
    target = safe_next(request.form.get("next"))
    kept = request.form.get("kept", "")
    if not oidc_offered(settings, kept):
        kept = ""
    try:
        meta = metadata(settings)
    except Refused as exc:
        return _back(settings, exc.status, exc.sentence, kept, target)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with _client(settings, meta) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce)
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": target, "kept": kept}
    resp = Response(status=303, headers={"Location": url, "Cache-Control": "no-store"})
    resp.set_cookie(FLOW_COOKIE, _serializer(settings).dumps(flow), max_age=FLOW_SECONDS, path=START,
                    httponly=True, samesite="Lax", secure=request.is_secure)
    return resp


@bp.get(CALLBACK)
def callback() -> Response:
    """Where the provider sends the browser back: a session, or the sign-in page saying why not."""
    from services.intake import pages  # pages imports this module for the sign-in page

    settings = runtime().settings
    if not settings.oidc:
        abort(404)
    flow = _read_flow(settings)
    target = safe_next(flow.get("next")) if flow else ""
    kept = flow.get("kept", "") if flow else ""
    try:
        subject = _subject(settings, flow)
        done = signing_in(people.sign_in_vouched, subject, address(), METHOD, UNKNOWN.format(code=subject))
    except Refused as exc:
        if exc.counts:  # a token refused counts against the address, as a wrong password does
            write(people.count_failure, "", address())
        resp = _back(settings, exc.status, exc.sentence, kept, target)
    except (SignInRefused, Problem) as exc:  # no such person, the sign-in limits (429), no organisation
        problem = as_problem(exc)
        resp = _back(settings, problem.status, problem.detail, kept, target)
        for k, v in problem.headers.items():
            resp.headers[k] = v
    else:
        resp = pages.signed_in_response(done, target, kept)
        if resp.status_code == 303:
            # The browser comes from the provider's site, and a redirect would go on in that
            # cross-site navigation, which carries no SameSite=Strict cookie: the person would
            # look signed out. A page of this origin that moves on starts a navigation of this
            # site, which carries it.
            resp = page("intake/oidc_done.html", person=done.person, person_name=done.person.subject,
                        role_pages=[], target=resp.headers["Location"])
            set_cookie(resp, done.session_id)
    resp.delete_cookie(FLOW_COOKIE, path=START, httponly=True, samesite="Lax", secure=request.is_secure)
    return resp


def _subject(settings: Settings, flow: dict[str, str] | None) -> str:
    """The officer code the provider vouches for, or Refused with the reason."""
    state = request.args.get("state", "")
    if flow is None or not hmac.compare_digest(state.encode("utf-8"), flow["state"].encode("utf-8")):
        raise Refused(400, BAD_STATE)
    error = request.args.get("error")
    if error:
        raise Refused(400, DENIED if error == "access_denied" else PROVIDER_ERROR.format(error=error[:80]))
    code = request.args.get("code")
    if not code:
        raise Refused(400, NO_CODE)
    meta = metadata(settings)
    try:
        with _client(settings, meta) as client:
            token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=flow["verifier"])
    except AuthlibBaseError as exc:  # the provider refused the code (used, expired, not ours)
        current_app.logger.warning("OpenID Connect token request refused: %s", exc)
        raise Refused(400, PROVIDER_ERROR.format(error=str(getattr(exc, "error", "") or "token")[:80])) from exc
    except (requests.RequestException, ValueError) as exc:
        current_app.logger.warning("OpenID Connect token request failed: %s", exc)
        raise Refused(502, UNREACHABLE) from exc
    claims = verify_id_token(settings, meta, token, flow["nonce"])
    value = claims.get(settings.oidc_subject_claim)
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise Refused(401, NO_CLAIM.format(claim=settings.oidc_subject_claim), counts=True)
    return value.strip()


