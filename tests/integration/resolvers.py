"""A name resolver for tests: names map to the addresses a test chooses, answer after answer."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["MappedResolver"]


class MappedResolver(AbstractResolver):
    """Each name has a list of answers (lists of addresses); call n gets answer n, the last one repeats."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host not in self._answers:
            raise OSError(f"{host} is not in the test resolver")
        answers = self._answers[host]
        answer = answers[min(sum(1 for called in self.calls if called == host), len(answers) - 1)]
        self.calls.append(host)
        return [
            {"hostname": host, "host": address, "port": port,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET, "proto": 0, "flags": 0}
            for address in answer
        ]

    async def close(self) -> None:
        pass
