"""Waiting on child processes by their progress, never by the wall clock.

A busy machine slows a child but still gives it CPU time; a hung one (blocked on a lock, a peer or a pipe) uses
none. So a wait ends in failure only when no child it waits on has used any CPU time for ``STALL_S`` seconds.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

STALL_S = 120.0


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of a process in clock ticks (proc(5), fields 14 and 15); None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _running(proc: Any) -> bool:  # a subprocess.Popen or a multiprocessing.Process
    return proc.poll() is None if hasattr(proc, "poll") else proc.is_alive()


def wait_while_progressing(procs: Sequence[Any], *, until: Callable[[], bool] | None = None) -> None:
    """Return once every process has ended, or ``until()`` holds; kill them and fail when they stall."""
    last, since = None, time.monotonic()
    while True:
        running = [p for p in procs if _running(p)]
        if not running or (until is not None and until()):
            return
        ticks = [cpu_ticks(p.pid) for p in running]
        if ticks != last:
            last, since = ticks, time.monotonic()
        elif None not in ticks and time.monotonic() - since > STALL_S:
            for proc in running:
                proc.kill()
                proc.wait() if hasattr(proc, "poll") else proc.join()
            raise AssertionError(f"{len(running)} child process(es) used no CPU time for {STALL_S:g} s: hung, killed")
        time.sleep(0.05)


def run(args: Sequence[str], *, check: bool = False, **popen: Any) -> subprocess.CompletedProcess:
    """``subprocess.run(args, capture_output=True, text=True)``, waiting while the child makes progress."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # files: a full pipe would block it
        proc = subprocess.Popen(args, stdout=out, stderr=err, **popen)
        wait_while_progressing([proc])
        proc.wait()
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(args, proc.returncode, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))
    if check:
        done.check_returncode()
    return done
