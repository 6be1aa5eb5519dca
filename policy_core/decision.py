"""The result of evaluating a policy: :class:`Decision`."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Decision"]


class Decision(NamedTuple):
    """What a policy says about one request.

    ``effect`` is ``"Allow"``, ``"Deny"`` or ``"Hitl"``; ``rule`` the name of the rule that decided, or ``None``
    when no rule matched and the policy's default applied; ``reason`` the rule's ``reason`` (``None`` when the
    rule has none, and for the default). Both evaluators hand out Decisions built when the policy was compiled,
    so producing one costs nothing.
    """

    effect: str
    rule: str | None = None
    reason: str | None = None
