"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the subscription's secret.

The timestamp is signed with the body so a captured request cannot be
replayed later with a fresh timestamp; a receiver checks the signature and
that the timestamp is recent (`verify` does both). Standard library only,
so receivers can copy it (docs/api.md shows it).
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "sha256="
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Rapport-Signature` header value for this body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True when `signature` is this body's at `timestamp` and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
