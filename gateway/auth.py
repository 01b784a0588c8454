"""Client authentication: a login proves possession of the secret without sending it.

The gateway greets each connection with a random nonce. The client answers with its API
key, a timestamp and HMAC-SHA256(secret, "<nonce>\\n<api_key>\\n<timestamp_ms>") in hex.
The nonce is used once (a captured login cannot be replayed on another connection) and the
timestamp must be close to the gateway's clock. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .config import Client


def new_nonce() -> str:
    return secrets.token_hex(16)


def sign(secret: str, nonce: str, api_key: str, timestamp_ms: int) -> str:
    """The login signature a client sends."""
    message = f"{nonce}\n{api_key}\n{timestamp_ms}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Authenticator:
    def __init__(self, clients: list[Client], skew_s: float):
        self._by_key = {c.api_key: c for c in clients}
        self.skew_ms = int(skew_s * 1000)

    def check(self, api_key: str, timestamp_ms: int, signature: str, nonce: str, now_ms: int) -> Client | str:
        """The client, or the reason the login is refused (which never says whether the key exists)."""
        client = self._by_key.get(api_key)
        expected = sign(client.secret if client else "x" * 32, nonce, api_key, timestamp_ms)
        if abs(now_ms - timestamp_ms) > self.skew_ms:
            return f"timestamp is {abs(now_ms - timestamp_ms) / 1000:.0f} s away from the gateway's clock"
        if not hmac.compare_digest(expected, signature) or client is None:
            return "unknown api key or bad signature"
        return client
