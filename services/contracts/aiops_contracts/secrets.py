"""Secrets at rest, readable by both services: webhook signing secrets (Sentry's client secret) and the
credentials of polled sources (SNMP communities and keys, BMC passwords, API keys).

They must be readable to use, so they are encrypted, not hashed: Fernet (AES-128-CBC and HMAC-SHA256) with a
key derived from SECRETS_KEY by HKDF, stored as `{"fernet": "<token>"}`. The API seals, the worker opens.
`derive` gives secrets both services compute alike, never stored (the Context a Redfish BMC sends its events
back with).
"""

import base64
import hashlib
import hmac
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEALED = "fernet"


class SecretBox:
    def __init__(self, secrets_key: str) -> None:
        key = HKDF(hashes.SHA256(), 32, salt=None, info=b"aiops source signing secrets").derive(secrets_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._derived = HKDF(hashes.SHA256(), 32, salt=None, info=b"aiops derived secrets").derive(secrets_key.encode())

    def derive(self, purpose: str) -> str:
        """A secret of `purpose` (64 hex digits), the same wherever this SECRETS_KEY is."""
        return hmac.new(self._derived, purpose.encode(), hashlib.sha256).hexdigest()

    def seal(self, secret: str) -> dict[str, str]:
        return {_SEALED: self._fernet.encrypt(secret.encode()).decode()}

    def open(self, sealed: Any) -> str | None:
        """The secret, or None when `sealed` is not a sealed value of this key (another SECRETS_KEY, tampered)."""
        if not isinstance(sealed, dict) or not isinstance(sealed.get(_SEALED), str):
            return None
        try:
            return self._fernet.decrypt(sealed[_SEALED].encode()).decode()
        except InvalidToken:
            return None


def secret_box(secrets_key: str) -> SecretBox | None:
    return SecretBox(secrets_key) if secrets_key else None
