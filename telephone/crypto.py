"""Encryption of stored credentials (API tokens, shared secrets, source passwords).

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from SECRET_KEY by HKDF,
so that changing SECRET_KEY makes old ciphertexts unreadable rather than wrong.
"""
from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _

_INFO = b"telephone: stored credentials v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted (SECRET_KEY changed since it was stored)."""


def _fernet(secret_key: str | None = None) -> Fernet:
    return _fernet_for(secret_key or current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4)
def _fernet_for(secret_key: str) -> Fernet:
    """Derived once per SECRET_KEY: the token-protected URLs read a secret with every request."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str) -> str:
    """Encrypt a secret for storage; the empty string stays empty (means "not set")."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


@functools.lru_cache(maxsize=64)
def _decrypted(secret_key: str, token: str) -> str:
    """Decrypted once per ciphertext: the phone directories and the caller-name lookup read the
    directory token with every request (a Fernet decryption is ~0.1 ms)."""
    return _fernet_for(secret_key).decrypt(token.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored secret; raises SecretUnreadable with a hint if the key changed."""
    if not token:
        return ""
    try:
        return _decrypted(current_app.config["SECRET_KEY"], token)
    except InvalidToken as exc:
        raise SecretUnreadable(
            _("Gespeichertes Geheimnis kann nicht entschlüsselt werden – wurde SECRET_KEY geändert? Bitte "
              "den Wert in den Einstellungen neu eingeben.")
        ) from exc
