"""Ctrl-C and SIGTERM as exceptions, so a stopped job can still write its record.

Ctrl-C already raises `KeyboardInterrupt`; SIGTERM (a scheduler's time limit, `timeout`, `kill`, a launcher
shutting its workers down) would end the process on the spot, leaving a half-made synthetic set and no
`results.json`. Inside `stop_signals_raise()` both unwind the stack as a `JobInterrupted`, so `synthlift.run`
can record the job as interrupted, set its partial artefacts aside and exit with the signal's status.
SIGKILL cannot be caught; `archive_unfinished_attempt` cleans up after it on the next attempt.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class JobInterrupted(BaseException):
    """A stop signal arrived while a job ran. A BaseException, like KeyboardInterrupt, so that no stage's
    `except Exception` (a metric that may fail, a retry) swallows it and carries on."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process a signal ended (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signum


def _raise_interrupted(signum: int, frame: object) -> None:
    # A second Ctrl-C, pressed while the job writes its interrupted record, must not cut that write short:
    # further stop signals are ignored until the block ends (SIGKILL still stops a hung process).
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise JobInterrupted(signum)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `JobInterrupted` in the main thread; the handlers that were
    there before come back afterwards. Signal handlers can only be set from the main thread: elsewhere (a
    launcher running jobs in threads) the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
