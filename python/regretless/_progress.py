"""A dependency-free text progress bar for long runs (written to stderr)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Shows ``label [#####.....] done/total elapsed`` on one line, redrawn in place.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(4, label="runs", stream=out, width=8)
    >>> bar.update(2)
    >>> bar.close()
    >>> "4/4" in out.getvalue()
    True
    """

    def __init__(
        self, total: int, *, label: str = "", stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self.start = time.perf_counter()
        # On a terminal the bar is redrawn in place; in a log file only every 10%.
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_drawn = -1
        self._draw()

    def _draw(self, force: bool = False) -> None:
        step = self.done if self.interactive else (10 * self.done) // self.total
        if step == self._last_drawn and not force:
            return
        self._last_drawn = step
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        end = "" if self.interactive else "\n"
        start = "\r" if self.interactive else ""
        self.stream.write(
            f"{start}{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s{end}"
        )
        self.stream.flush()

    def update(self, done: int) -> None:
        """Set the number of finished units and redraw."""
        self.done = min(int(done), self.total)
        self._draw()

    def close(self) -> None:
        """Mark everything done and end the line."""
        if self.done == self.total and not self.interactive:
            return
        self.done = self.total
        self._draw(force=True)
        if self.interactive:
            self.stream.write("\n")
        self.stream.flush()
