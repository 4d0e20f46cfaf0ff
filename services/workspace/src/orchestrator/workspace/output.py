"""Bounding what executed code prints: pure, no I/O.

Output is split into lines; a line longer than ``max_line`` is cut (the rest, up to its newline,
is dropped), and once ``max_bytes`` or ``max_lines`` have been kept everything else is counted
and dropped. Memory held is at most one line, whatever arrives: gigabytes, no newlines, binary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CUT_MARK = " …[line truncated]"


@dataclass
class OutputLimiter:
    max_line: int
    max_bytes: int
    max_lines: int
    kept_bytes: int = 0
    kept_lines: int = 0
    dropped_bytes: int = 0
    truncated: bool = False
    _pending: bytearray = field(default_factory=bytearray)
    _cutting: bool = False

    @property
    def full(self) -> bool:
        return self.kept_bytes >= self.max_bytes or self.kept_lines >= self.max_lines

    def feed(self, chunk: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        while start < len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline < 0 else newline
            piece = chunk[start:end]
            if self._cutting:
                self.dropped_bytes += len(piece)
            else:
                room = self.max_line - len(self._pending)
                if len(piece) > room:
                    self._pending += piece[:room]
                    self.dropped_bytes += len(piece) - room
                    self._emit(lines, cut=True)
                    self._cutting = True
                else:
                    self._pending += piece
            if newline < 0:
                break
            if self._cutting:
                self._cutting = False
            else:
                self._emit(lines, cut=False)
            start = newline + 1
        return lines

    def close(self) -> list[str]:
        lines: list[str] = []
        if self._pending:
            self._emit(lines, cut=False)
        self._cutting = False
        if self.dropped_bytes and self.full:
            lines.append(f"[output truncated: {self.dropped_bytes} more bytes not kept]")
        return lines

    def _emit(self, lines: list[str], *, cut: bool) -> None:
        raw = bytes(self._pending)
        self._pending.clear()
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if self.full:
            self.truncated = True
            self.dropped_bytes += len(raw) + 1
            return
        text = raw.decode("utf-8", errors="replace")
        if cut:
            self.truncated = True
            text += CUT_MARK
        self.kept_bytes += len(raw) + 1
        self.kept_lines += 1
        lines.append(text)
