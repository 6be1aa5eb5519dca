"""PyJWT's refusals by the cause the audit log names: one table for gateway tokens and agents' assertions."""

from __future__ import annotations

import jwt

__all__ = ["cause_of"]

#: The first class that matches names the cause; anything else is ``invalid_token``.
_CAUSES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "wrong_algorithm"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.exceptions.InvalidSubjectError, "wrong_subject"),
    (jwt.exceptions.InvalidJTIError, "bad_jti"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuedAtError, "bad_issued_at"),
    (jwt.DecodeError, "malformed_token"),
)


def cause_of(exc: jwt.PyJWTError) -> str:
    return next((name for kind, name in _CAUSES if isinstance(exc, kind)), "invalid_token")
