"""The relay's own copy of the indexed events on local disk, for a fast restart.

Reading the retained event log back from RabbitMQ costs the broker about
80 µs of CPU per message (RabbitMQ 3.10 converts each stored message to AMQP
0.9.1 as it delivers it; its stream protocol is no cheaper for a log written
one message per chunk), so a relay restarting over a day's million events
needed minutes. With ``RELAY_STATE_DIR`` set, the relay appends every event it
indexes to segment files there; on start it rebuilds its index from them and
resumes the broker subscription at the last one, where the consumer's
continuity check (the same message at that offset, else everything is
re-read from ``first``) guards against a log that changed meanwhile.

Guarantees:
- records are appended in offset order and handed to the OS at every
  :meth:`LocalLog.flush` (the consumer's 0.1 s tick) and on close; a crash
  loses at most that tail, which the broker sends again;
- a torn or corrupt record (length and CRC-32 per record) ends the read:
  everything before it is used; it, the rest of its segment and every later
  segment are deleted (the broker sends those events again: never a gap);
- segments roll at ``segment_bytes``; one whose newest event is older than
  the log's max age is deleted (at roll and at load);
- one relay per directory (an exclusive ``flock``); a second relay pointed at
  the same directory runs without a local log (logged);
- the files hold users' notifications: the directory is created ``0700`` and
  every file ``0600``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from stream_relay.indexed_event import IndexedEvent

__all__ = ["LocalLog", "Resume"]

log = logging.getLogger("stream_relay.local_log")

# A record: the length of what follows the prefix and its CRC-32; then the offset,
# happened_at and the byte lengths of the user id, eventId and fingerprint; then
# those three and the body.
_PREFIX: Final = struct.Struct("<II")
_FIELDS: Final = struct.Struct("<qdHHH")
_SUFFIX: Final = ".seg"
_YIELD_EVERY: Final = 20_000  # records loaded between two event-loop turns


@dataclass(frozen=True, slots=True)
class Resume:
    """Where the loaded copy ends: the broker subscription resumes at this message."""

    offset: int
    fingerprint: str
    events: int


@dataclass(slots=True)
class _Segment:
    path: Path
    newest: float  # happened_at of its newest record (0 when empty)


class LocalLog:
    """Segment files of indexed events in one directory (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_age_seconds: float,
        segment_bytes: int = 64 * 2**20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._max_age = max_age_seconds
        self._segment_bytes = segment_bytes
        self._clock = clock
        self._segments: list[_Segment] = []
        self._file: BinaryIO | None = None
        self._written = 0
        self._lock: int | None = None

    @classmethod
    def open(cls, directory: Path, *, max_age_seconds: float) -> LocalLog | None:
        """The local log in ``directory`` (created), or ``None`` if another relay holds it.

        Raises:
            OSError: the directory cannot be created or opened.
        """
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # users' notifications
        lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            log.warning("%s is in use by another relay; running without a local log", directory)
            return None
        local = cls(directory, max_age_seconds=max_age_seconds)
        local._lock = lock
        return local

    async def load(self, add: Callable[[IndexedEvent], object]) -> Resume | None:
        """Hand every stored event to ``add``, oldest first; where to resume, if anywhere.

        Expired segments are deleted first; a torn tail is cut off. Yields to the
        event loop now and then, so a long load does not stall health checks.
        """
        self._close_file()
        paths = sorted(self._directory.glob(f"*{_SUFFIX}"))
        horizon = self._clock() - self._max_age
        last: tuple[int, str] | None = None
        events = 0
        self._segments = []
        for number, path in enumerate(paths):
            data = path.read_bytes()
            position, newest, torn = 0, 0.0, False
            while position < len(data):
                record = _decode(data, position)
                if record is None:
                    log.warning(
                        "%s: torn record at byte %d; it and all after are dropped", path, position
                    )
                    with path.open("r+b") as segment:
                        segment.truncate(position)
                    for later in paths[number + 1 :]:
                        later.unlink()
                    torn = True
                    break
                entry, fingerprint, position = record
                newest = entry.happened_at
                if entry.happened_at >= horizon:
                    add(entry)
                last = (entry.offset, fingerprint)
                events += 1
                if events % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            if newest < horizon:
                path.unlink()
            else:
                self._segments.append(_Segment(path, newest))
            if torn:
                break
        if last is None:
            return None
        log.info("loaded %d events from %s (up to offset %d)", events, self._directory, last[0])
        return Resume(last[0], last[1], events)

    def append(self, entry: IndexedEvent, fingerprint: str) -> None:
        """Add one indexed event (after every earlier one)."""
        if self._file is None or self._written >= self._segment_bytes:
            self._roll(entry.offset)
        assert self._file is not None  # noqa: S101 - _roll opened it
        user, key, print_ = entry.user_id.encode(), entry.key.encode(), fingerprint.encode()
        fields = _FIELDS.pack(entry.offset, entry.happened_at, len(user), len(key), len(print_))
        tail = b"".join((fields, user, key, print_, entry.body))
        self._file.write(_PREFIX.pack(len(tail), zlib.crc32(tail)))
        self._file.write(tail)
        self._written += _PREFIX.size + len(tail)
        self._segments[-1].newest = entry.happened_at

    def flush(self) -> None:
        """Hand what was appended to the OS (it survives a crash of the relay)."""
        if self._file is not None:
            self._file.flush()

    def reset(self) -> None:
        """Forget everything stored (the log had a gap or a new epoch)."""
        self._close_file()
        for path in self._directory.glob(f"*{_SUFFIX}"):
            path.unlink()
        self._segments = []

    def close(self) -> None:
        """Flush, close the segment, release the directory."""
        self._close_file()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _roll(self, first_offset: int) -> None:
        self._close_file()
        horizon = self._clock() - self._max_age
        for segment in [s for s in self._segments if s.newest < horizon]:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            self._segments.remove(segment)
        path = self._directory / f"{first_offset:020d}{_SUFFIX}"
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        self._written = self._file.tell()
        self._segments.append(_Segment(path, 0.0))

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _decode(data: bytes, position: int) -> tuple[IndexedEvent, str, int] | None:
    """The record at ``position`` and where the next one starts; ``None`` if torn."""
    start = position + _PREFIX.size
    if start + _FIELDS.size > len(data):
        return None
    length, crc = _PREFIX.unpack_from(data, position)
    end = start + length
    if end > len(data) or zlib.crc32(memoryview(data)[start:end]) != crc:
        return None
    offset, happened, users, keys, prints = _FIELDS.unpack_from(data, start)
    cursor = start + _FIELDS.size
    user = data[cursor : cursor + users].decode()
    cursor += users
    key = data[cursor : cursor + keys].decode()
    cursor += keys
    fingerprint = data[cursor : cursor + prints].decode()
    cursor += prints
    return IndexedEvent(offset, user, key, happened, data[cursor:end]), fingerprint, end
