"""The one error the policy core raises: :class:`PolicyError`, located by a pointer into the document."""

from __future__ import annotations

__all__ = ["PolicyError"]


class PolicyError(ValueError):
    """A policy document is invalid.

    ``pointer`` names where, in the style ``rules[2].conditions[0].operator`` (indexes are the rule's and the
    condition's positions in the document, not in priority order); it is ``""`` for the document as a whole.
    ``str(error)`` is ``"pointer: message"``, or just the message when the pointer is empty.
    """

    def __init__(self, pointer: str, message: str) -> None:
        self.pointer = pointer
        self.message = message
        super().__init__(f"{pointer}: {message}" if pointer else message)

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working with two arguments
        return (type(self), (self.pointer, self.message))
