"""The testing kit's one error of its own (a failed wait is an ``AssertionError``)."""

__all__ = ["StackError"]


class StackError(Exception):
    """A stack could not start (or clean up); the message says which part and why, with
    the tail of a failing service's log."""
