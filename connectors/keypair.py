"""The Solana keypair at rest: an encrypted file, opened with a password from the keychain or a
prompt. Format (JSON, UTF-8; documented in docs/secrets.md):

    {"format": "solarb-keypair", "version": 1, "pubkey": "<base58>",
     "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": "<base64, 16 bytes>"},
     "cipher": {"name": "aes-256-gcm", "nonce": "<base64, 12 bytes>"},
     "ciphertext": "<base64: the 64-byte keypair (secret || public) + 16-byte tag>"}

The key is scrypt(password, salt) (32 bytes); AES-256-GCM authenticates the header as associated
data, so a file whose pubkey, KDF or cipher fields were changed does not open. After decryption
the keypair's own public key must equal `pubkey`.

The opened keypair is a `Signer`: it signs and tells its public key, and has no way to print,
pickle or compare its secret (solders' `str(Keypair)` is the base58 secret: never reachable here).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from operators.errors import ConfigError

FORMAT = "solarb-keypair"
VERSION = 1
SCRYPT_N = 2**17
"""scrypt cost: ~0.8 s and 128 MiB on these 2-core machines: slow to guess, fine at start-up."""
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_LEN = 16
_NONCE_LEN = 12
_KEYPAIR_LEN = 64


@dataclass(frozen=True, slots=True)
class _Kdf:
    n: int
    r: int
    p: int
    salt: bytes


class Signer:
    """An opened keypair: `pubkey()` and `sign_message()`, nothing that reveals the secret."""

    __slots__ = ("_kp",)

    def __init__(self, keypair: Keypair) -> None:
        self._kp = keypair

    def pubkey(self) -> Pubkey:
        """The public key (the account address)."""
        return self._kp.pubkey()

    def sign_message(self, message: bytes) -> Signature:
        """Ed25519 signature of `message`."""
        return self._kp.sign_message(message)

    def solders_keypair(self) -> Keypair:
        """The solders keypair, for `VersionedTransaction(message, [keypair])` only."""
        return self._kp

    def __repr__(self) -> str:
        return f"Signer(pubkey={self._kp.pubkey()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer is never pickled: the keypair stays in its encrypted file")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, field: str, path: str) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: keypair file field {field!r} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{path}: keypair file field {field!r} is not valid base64") from None


def _derive(password: str, kdf: _Kdf) -> bytes:
    if not password:
        raise ConfigError("the keypair password is empty")
    return Scrypt(salt=kdf.salt, length=32, n=kdf.n, r=kdf.r, p=kdf.p).derive(password.encode())


def _aad(header: dict[str, Any]) -> bytes:
    # Canonical JSON of everything but the ciphertext: tampering with any of it breaks the tag.
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal_keypair(keypair_bytes: bytes, password: str, *, scrypt_n: int | None = None) -> bytes:
    """Encrypt a 64-byte Solana keypair (secret || public) into the file format above
    (`scrypt_n`: the scrypt cost, default `SCRYPT_N`)."""
    if len(keypair_bytes) != _KEYPAIR_LEN:
        raise ConfigError(f"a Solana keypair is {_KEYPAIR_LEN} bytes, not {len(keypair_bytes)}")
    try:
        kp = Keypair.from_bytes(keypair_bytes)
    except ValueError:
        raise ConfigError("not a valid Solana keypair (public half does not match)") from None
    n = SCRYPT_N if scrypt_n is None else scrypt_n
    kdf = _Kdf(n, SCRYPT_R, SCRYPT_P, secrets.token_bytes(_SALT_LEN))
    nonce = secrets.token_bytes(_NONCE_LEN)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "pubkey": str(kp.pubkey()),
        "kdf": {"name": "scrypt", "n": kdf.n, "r": kdf.r, "p": kdf.p, "salt": _b64(kdf.salt)},
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce)},
    }
    ct = AESGCM(_derive(password, kdf)).encrypt(nonce, bytes(kp), _aad(header))
    return (json.dumps({**header, "ciphertext": _b64(ct)}, indent=1) + "\n").encode()


def _header(doc: Any, path: str) -> tuple[dict[str, Any], _Kdf, bytes, bytes]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a solarb keypair file (format {FORMAT!r} expected)")
    if doc.get("version") != VERSION:
        raise ConfigError(f"{path}: keypair file version {doc.get('version')!r} not supported")
    kdf, cipher = doc.get("kdf"), doc.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise ConfigError(f"{path}: keypair file kdf must be scrypt")
    if not isinstance(cipher, dict) or cipher.get("name") != "aes-256-gcm":
        raise ConfigError(f"{path}: keypair file cipher must be aes-256-gcm")
    params = []
    for name in ("n", "r", "p"):
        v = kdf.get(name)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{path}: keypair file kdf.{name} must be a positive integer")
        params.append(v)
    n, r, p = params
    if n & (n - 1) or n > 2**22 or r > 32 or p > 16:
        raise ConfigError(f"{path}: keypair file scrypt parameters out of range")
    salt = _unb64(kdf.get("salt"), "kdf.salt", path)
    nonce = _unb64(cipher.get("nonce"), "cipher.nonce", path)
    if len(nonce) != _NONCE_LEN:
        raise ConfigError(f"{path}: keypair file nonce must be {_NONCE_LEN} bytes")
    ct = _unb64(doc.get("ciphertext"), "ciphertext", path)
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    return header, _Kdf(n, r, p, salt), nonce, ct


def open_keypair(blob: bytes, password: str, *, path: str = "<keypair>") -> Signer:
    """Decrypt a keypair file; `ConfigError` on a wrong password or any damage."""
    try:
        doc = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{path}: not a solarb keypair file (not UTF-8 JSON)") from None
    header, kdf, nonce, ct = _header(doc, path)
    try:
        plain = AESGCM(_derive(password, kdf)).decrypt(nonce, ct, _aad(header))
    except InvalidTag:
        raise ConfigError(f"{path}: wrong password, or the keypair file was altered") from None
    try:
        kp = Keypair.from_bytes(plain)
    except ValueError:
        raise ConfigError(f"{path}: decrypted bytes are not a Solana keypair") from None
    if str(kp.pubkey()) != header.get("pubkey"):
        raise ConfigError(f"{path}: the keypair inside does not match the file's pubkey")
    return Signer(kp)


def file_pubkey(path: str | Path) -> str:
    """The public key a keypair file declares (no password needed; not verified until opened)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the keypair file ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{p}: not a solarb keypair file (not UTF-8 JSON)") from None
    header, _kdf, _nonce, _ct = _header(doc, str(p))
    return str(header.get("pubkey"))


def write_keypair_file(path: str | Path, sealed: bytes) -> Path:
    """Write a sealed keypair readable by its owner only (0600); never overwrite a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{p}: exists already; keypair files are never overwritten") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(sealed)
    return p


def load_keypair(path: str | Path, password: str) -> Signer:
    """Open the keypair file at `path` with `password`."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the keypair file ({exc.strerror})") from None
    return open_keypair(blob, password, path=str(p))


def solana_cli_keypair_bytes(text: str, *, path: str = "<keypair>") -> bytes:
    """The 64 bytes of a solana-cli keypair JSON file (`[12, 34, ...]`)."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"{path}: not a solana-cli keypair (a JSON array of 64 bytes)") from None
    if (
        not isinstance(values, list)
        or len(values) != _KEYPAIR_LEN
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 256 for v in values)
    ):
        raise ConfigError(f"{path}: not a solana-cli keypair (a JSON array of 64 bytes)")
    return bytes(values)
