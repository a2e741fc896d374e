"""Password and token hashing (scrypt) for workbench users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_secret", "verify_secret", "verify_unknown"]

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): what is stored for a password or token.

    >>> verify_secret("s3cret", hash_secret("s3cret")), verify_secret("x", hash_secret("s3cret"))
    (True, False)
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode("utf-8"), salt=base64.b64decode(salt),
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


_UNKNOWN: list[str] = []


def verify_unknown(secret: str) -> bool:
    """Spend the same scrypt work on a name nobody has, then refuse: a login for an unknown
    name must not answer faster than a wrong password for a real one (that tells an attacker
    which names exist)."""
    if not _UNKNOWN:
        _UNKNOWN.append(hash_secret(secrets.token_urlsafe(16)))
    verify_secret(secret, _UNKNOWN[0])
    return False
