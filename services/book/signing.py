"""R15b: the book service's Ed25519 key, kept outside the database.

The private key is a PEM file (PKCS#8): ``SOVANG_BOOK_SIGNING_KEY``, or
``$SOVANG_HOME/book-keys/signing.pem``, generated on first use when it does not exist. Every
public key the service ever signed with is written to ``public/{key_id}.pem`` in the keys
folder (``SOVANG_BOOK_KEYS_DIR``, default ``$SOVANG_HOME/book-keys``) when it is first loaded,
so after a rotation (``sovang book rotate-key``, or another PEM at that path) the old keys stay
listed and heads signed with them still verify. Only the files count: a key a database row
named would be one anyone able to rewrite the tables could choose.

``key_id`` is the first 16 hex digits of SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.book.domain.witness import SignedHead, message
from shared.config import Settings

ALGORITHM = "Ed25519"


class SigningKeyError(RuntimeError):
    """The signing key cannot be read (a file that is not an Ed25519 PEM)."""


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _write_once(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole, unless it exists: two processes starting at once keep one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    key: Ed25519PublicKey
    current: bool

    def public(self) -> dict[str, object]:
        """What ``GET /api/v1/books/keys`` lists of a key."""
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(raw_public(self.key)).decode(),
            "pem": public_pem(self.key),
            "current": self.current,
        }


class Keyring:
    """The current private key and every public key listed in the keys folder."""

    def __init__(self, private_path: Path, keys_dir: Path) -> None:
        self.private_path = private_path
        self.public_dir = keys_dir / "public"
        if not private_path.exists():
            _write_once(private_path, new_private_pem(), 0o600)
        try:
            private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"khóa ký {private_path} không đọc được: {exc}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"khóa ký {private_path} không phải khóa Ed25519")
        self._private = private
        self.key_id = key_id_of(private.public_key())
        _write_once(self.public_dir / f"{self.key_id}.pem", public_pem(private.public_key()).encode(), 0o644)
        self._lock = threading.Lock()
        self._public: dict[str, Ed25519PublicKey] = {}
        self._read_public()

    def _read_public(self) -> None:
        found: dict[str, Ed25519PublicKey] = {}
        for path in sorted(self.public_dir.glob("*.pem")):
            try:
                key = serialization.load_pem_public_key(path.read_bytes())
            except (ValueError, TypeError):
                continue
            if isinstance(key, Ed25519PublicKey):
                found[key_id_of(key)] = key
        with self._lock:
            self._public = found

    def public_key(self, key_id: str) -> Ed25519PublicKey | None:
        key = self._public.get(key_id)
        if key is None:
            self._read_public()  # a rotation by another process since this one started
            key = self._public.get(key_id)
        return key

    def keys(self) -> list[PublicKey]:
        self._read_public()
        return [PublicKey(k, key, k == self.key_id) for k, key in sorted(self._public.items(),
                                                                         key=lambda kv: kv[0] != self.key_id)]

    def sign(self, book: str, entries: int, head: str, signed_at: str) -> SignedHead:
        """R15b: the signed head of a book as it stands after entry ``entries``."""
        signature = self._private.sign(message(book, entries, head, signed_at))
        return SignedHead(book, entries, head, signed_at, base64.b64encode(signature).decode(), self.key_id)

    def holds(self, signed: SignedHead) -> bool:
        """Whether ``signed`` carries a good signature by one of the listed keys."""
        return _holds(self, signed.key_id, message(signed.book, signed.entries, signed.head, signed.signed_at),
                      signed.signature)


# A good signature stays good (it depends only on what is signed and by which listed key): each is
# checked once per process, so that verifying a long book again costs its hashes, not thousands of
# signatures. A bad one is checked again each time (its key may be listed since).
_VERIFIED_MAX = 100_000
_verified: set[tuple[Path, str, bytes, str]] = set()


def _holds(ring: Keyring, key_id: str, signed: bytes, signature: str) -> bool:
    known = (ring.public_dir, key_id, signed, signature)
    if known in _verified:
        return True
    key = ring.public_key(key_id)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), signed)
    except (InvalidSignature, ValueError):
        return False
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified.add(known)
    return True


_rings: dict[tuple[Path, Path], Keyring] = {}
_rings_lock = threading.Lock()


def keyring(settings: Settings) -> Keyring:
    """The process's keyring of these settings (loaded, or generated, once)."""
    where = (settings.signing_key_path, settings.keys_dir)
    with _rings_lock:
        ring = _rings.get(where)
        if ring is None:
            ring = _rings[where] = Keyring(*where)
        return ring


def rotate(settings: Settings) -> tuple[str, str]:
    """A new signing key in place of the current one; the old public key stays listed (its file
    in ``public/``). Returns (old key id, new key id). Running processes sign with the old key
    until they restart."""
    old = Keyring(settings.signing_key_path, settings.keys_dir)
    path = settings.signing_key_path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(new_private_pem())
    os.replace(tmp, path)
    with _rings_lock:
        _rings.pop((path, settings.keys_dir), None)
    return old.key_id, keyring(settings).key_id
