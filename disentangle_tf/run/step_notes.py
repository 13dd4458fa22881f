"""What a run says between its last epoch and its results, so that the console is never
silent for long: a line before each step (``refitting the last layers...``) and, within a
step that takes long, a line of its progress at least every :data:`INTERVAL` seconds."""

from __future__ import annotations

import time
from typing import Callable

#: The longest a step goes on without a line of its progress (seconds).
INTERVAL = 5.0


class StepNotes:
    """Says a line before each step and, while one runs, its progress now and then.

    Args:
        notify: called with each line (``print``, ``click.echo``).
        interval: least seconds between the last line and a line of progress.
        clock: the time in seconds (``time.monotonic``; a test gives its own).

    Example:

    >>> notes = StepNotes(print, interval=0.0)
    >>> notes("recomputing batch-norm statistics (30 batches)...")
    recomputing batch-norm statistics (30 batches)...
    >>> notes.progress(10, 30, "batches")
      10 of 30 batches
    """

    def __init__(self, notify: Callable[[str], None], interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.notify = notify
        self.interval = interval
        self.clock = clock
        self._said = clock()

    def __call__(self, line: str) -> None:
        """Say ``line``: what the next step does."""
        self.notify(line)
        self._said = self.clock()

    def progress(self, done: int, total: int, unit: str) -> None:
        """Say ``"  <done> of <total> <unit>"`` if :attr:`interval` seconds have passed since
        the last line (and the step is not done)."""
        if done < total and self.clock() - self._said >= self.interval:
            self(f"  {done} of {total} {unit}")
