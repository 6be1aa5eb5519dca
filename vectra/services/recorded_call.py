"""What a governed call's audit record keeps of the request, so that it can be judged again: by a policy replay
(docs/replay.md), as a shadow policy judged it live. The method and URL are the record's own fields; the record's
details add the headers the upstream got (secrets redacted: a replay sees ``[redacted]``), the body up to
``VECTRA_AUDIT_BODY_BYTES`` (UTF-8 text, else base64, with its size and whether it was cut) and the agent as the
decision saw it. A body the proxy streams rather than holds is copied as it passes, up to the same bound."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

from vectra.domain.pending import redacted
from vectra.services.decide import AgentFacts

__all__ = ["BodyCopy", "agent_view", "request_view"]


class BodyCopy:
    """Keeps the first ``limit`` bytes of a body streamed upstream, and counts all of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.size = 0
        self.finished = False

    def tee(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async def passing() -> AsyncIterator[bytes]:
            async for chunk in body:
                self.size += len(chunk)
                room = self.limit - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
                yield chunk
            self.finished = True

        return passing()

    def whole(self) -> bytes | None:
        """The body, if it has been streamed to its end and was kept whole."""
        return bytes(self.kept) if self.finished and self.size == len(self.kept) else None


def request_view(headers: Sequence[tuple[str, str]], body: bytes | BodyCopy | None, limit: int) -> dict[str, Any]:
    """The ``request`` detail of a record: ``body`` as held, as copied while streaming, or absent."""
    if isinstance(body, BodyCopy):
        kept, size, cut = bytes(body.kept), body.size, body.size > len(body.kept) or not body.finished
    elif body:
        kept, size, cut = body[:limit], len(body), len(body) > limit
    else:
        kept, size, cut = b"", 0, False
    view: dict[str, Any] = {"headers": [[name, value] for name, value in redacted(headers)], "bodySize": size,
                            "bodyTruncated": cut}
    if kept:
        try:
            view.update(body=kept.decode("utf-8"), bodyEncoding="utf-8")
        except UnicodeDecodeError:
            view.update(body=base64.b64encode(kept).decode("ascii"), bodyEncoding="base64")
    return view


def agent_view(agent: AgentFacts) -> dict[str, Any]:
    """The ``agent`` detail: the agent's facts a policy may test (its trust is the record's own ``trust``)."""
    return {"name": agent.name, "ownerId": agent.owner_id, "roles": list(agent.roles),
            "capabilities": list(agent.capabilities), "realm": agent.realm}
