"""Reading a service's log file (see :mod:`peek.logs`) back as records.

The file and its rotated predecessors (``peek-server.log.1``, ``.2``, ...) are
read backwards from the end in chunks, never more than ``scan_bytes`` per call,
so asking for the latest records costs the same on a 20 MB log as on a small one.

A record's id is ``<inode>-<offset>``: the file it is in and where its first
line starts.  Rotation renames files but keeps their inodes, so an id keeps
naming the same record (as an anchor, or as the point to tail from) until its
file is deleted.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from peek.config import LOG_LEVELS

CHUNK = 64 * 1024
#: Bytes read at most per call, over all files.
SCAN_BYTES = 8 * 1024 * 1024
MAX_TEXT = 200

#: A record's first line, as ``peek.logs.FORMAT`` writes it; other lines
#: (tracebacks, the rest of multi-line messages) belong to the record above.
HEADER = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (%s) (\S+) \[(.*?)\]: ?(.*)"
                    % "|".join(LOG_LEVELS))
RECORD_ID = re.compile(r"(\d+)-(\d+)")
PACKAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLATFORM = "peek"
LEVEL_NUMBERS = {name: logging.getLevelName(name) for name in LOG_LEVELS}


class LogFilterError(ValueError):
    """A filter value that makes no sense; the message says what is expected."""


@dataclass(slots=True)
class LogRecord:
    id: str
    time: str
    level: str
    logger: str
    thread: str
    message: str
    #: The lines after the first: a traceback, or the rest of a multi-line message.
    detail: str = ""

    @property
    def levelno(self) -> int:
        return LEVEL_NUMBERS[self.level]

    @property
    def detail_summary(self) -> str:
        """The detail's last line: for a traceback, the exception."""
        lines = self.detail.strip().splitlines()
        return lines[-1].strip() if lines else ""

    @property
    def text(self) -> str:
        return f"{self.message}\n{self.detail}" if self.detail else self.message


def _within(logger: str, names: tuple[str, ...]) -> bool:
    return any(logger == n or logger.startswith(n + ".") for n in names)


@dataclass(frozen=True)
class LogFilter:
    """Which records to show; every field left at its default matches all."""

    level: int = logging.NOTSET
    #: A plugin's records: its loggers' (see :func:`log_filter`) and any naming it.
    plugin: str | None = None
    plugin_loggers: tuple[str, ...] = ()
    #: Only records of platform loggers (``peek.*``), not of the plugins shipped in it.
    platform_only: bool = False
    not_platform: tuple[str, ...] = ()
    #: In the message, traceback or logger name; lower case (matched ignoring case).
    text: str = ""

    def matches(self, record: LogRecord) -> bool:
        if record.levelno < self.level:
            return False
        if self.platform_only and (not _within(record.logger, (PLATFORM,))
                                   or _within(record.logger, self.not_platform)):
            return False
        if self.plugin and not _within(record.logger, self.plugin_loggers) \
                and not self._names_plugin(record.text):
            return False
        return not self.text or self.text in record.text.lower() \
            or self.text in record.logger.lower()

    def _names_plugin(self, text: str) -> bool:
        """Whether ``text`` names the plugin (not merely one whose name starts alike)."""
        return self.plugin in text and \
            re.search(rf"\b{re.escape(self.plugin)}\b", text) is not None


def log_filter(level: str = "", plugin: str = "", platform_only: bool = False,
               text: str = "", plugins: dict[str, str] | None = None) -> LogFilter:
    """A filter from the Logs page's fields; ``plugins`` maps each installed
    plugin to its module (whose loggers are the plugin's too).

    Raises :class:`LogFilterError` for a level, plugin or text that is not valid.
    """
    plugins = plugins or {}
    level = level.strip().upper()
    if level and level not in LOG_LEVELS:
        raise LogFilterError(f"level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    if plugin and not PACKAGE_NAME.fullmatch(plugin):
        raise LogFilterError(f"plugin must be a plugin's package name, not {plugin!r}")
    if plugin and plugin not in plugins:
        raise LogFilterError(f"no plugin {plugin!r} is installed; installed: "
                             f"{', '.join(sorted(plugins)) or 'none'}")
    if plugin and platform_only:
        raise LogFilterError("choose a plugin or the platform only, not both")
    if len(text) > MAX_TEXT:
        raise LogFilterError(f"the text to look for is longer than {MAX_TEXT} characters")
    return LogFilter(
        level=LEVEL_NUMBERS[level] if level else logging.NOTSET,
        plugin=plugin or None,
        plugin_loggers=(plugin, plugins[plugin]) if plugin else (),
        platform_only=platform_only,
        not_platform=tuple(sorted(set(plugins.values()))) if platform_only else (),
        text=text.strip().lower())


def parse_record_id(record_id: str) -> tuple[int, int]:
    """(inode, offset) of a record id."""
    match = RECORD_ID.fullmatch(record_id)
    if match is None:
        raise LogFilterError(f"not a log record id: {record_id!r} "
                             "(expected <inode>-<offset>)")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class LogTail:
    #: The matching records, oldest first.
    records: list[LogRecord]
    #: The id of the newest record in the log, matching or not (``after`` for the
    #: next call), or None if the log is empty.
    cursor: str | None


def log_files(path: Path) -> list[Path]:
    """The log and its rotated predecessors, newest first."""
    rotated = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    return [path, *sorted(rotated, key=lambda p: int(p.suffix[1:]))]


def _lines_backwards(file: BinaryIO, floor: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of each complete line between ``floor`` and ``end``, last
    first.  Only lines starting after ``floor`` (or at 0) are whole for sure: one
    starting at or cut by it is left out, and so is an unfinished last line."""
    position, rest, unfinished = end, b"", True
    while position > floor:
        start = max(floor, position - CHUNK)
        file.seek(start)
        block = file.read(position - start) + rest
        position = start
        lines = block.split(b"\n")
        if unfinished:  # the piece after the last newline is still being written
            lines.pop()
            if not lines:
                rest = b""
                continue
            unfinished = False
        rest = lines.pop(0) if position > 0 else b""
        offset = position + len(rest) + (1 if position > 0 else 0)
        offsets = []
        for line in lines:
            offsets.append(offset)
            offset += len(line) + 1
        yield from zip(reversed(offsets), reversed(lines))


def _records_backwards(file: BinaryIO, inode: int, floor: int,
                       end: int) -> Iterator[LogRecord]:
    """The records of one file between ``floor`` and ``end``, newest first."""
    detail: list[str] = []
    for offset, raw in _lines_backwards(file, floor, end):
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        header = HEADER.fullmatch(line)
        if header is None:
            detail.append(line)
            continue
        yield LogRecord(f"{inode}-{offset}", *header.groups(),
                        detail="\n".join(reversed(detail)))
        detail = []


class LogReader:
    """The records of one service's log (``path``) and its rotated files."""

    def __init__(self, path: Path, scan_bytes: int = SCAN_BYTES):
        self.path = path
        self.scan_bytes = scan_bytes

    def latest(self, where: LogFilter = LogFilter(), limit: int = 200,
               after: str | None = None) -> LogTail:
        """The last ``limit`` records matching ``where``; with ``after`` (a
        record id), only those written after that record."""
        after_inode, after_offset = parse_record_id(after) if after else (None, -1)
        found: list[LogRecord] = []
        cursor = None
        budget = self.scan_bytes
        for path in log_files(self.path):
            try:
                file = path.open("rb")
            except FileNotFoundError:  # rotated away meanwhile, or not written yet
                continue
            with file:
                status = os.fstat(file.fileno())
                # A file cut shorter than the offset (copytruncate) is read as a new one.
                mine = status.st_ino == after_inode and after_offset < status.st_size
                # The line at after_offset is cut by the floor: only later ones are read.
                floor = max(after_offset + 1 if mine else 0, status.st_size - budget, 0)
                for record in _records_backwards(file, status.st_ino, floor, status.st_size):
                    cursor = cursor or record.id
                    if where.matches(record):
                        found.append(record)
                        if len(found) >= limit:
                            break
                budget -= status.st_size - floor
            if mine or len(found) >= limit or budget <= 0:
                break
        return LogTail(found[::-1], cursor or after)

    def latest_id(self, where: LogFilter) -> str | None:
        """The id of the newest record matching ``where``, if one is within reach."""
        records = self.latest(where, limit=1).records
        return records[0].id if records else None
