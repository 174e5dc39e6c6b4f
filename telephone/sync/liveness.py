"""Which process holds a sync run: host, pid and a start marker tell a dead run from a living one.

A run records the process that runs it. After a crash or `kill -9` its row
stays "running"; a process on the same host can then tell that the pid is gone
(or now belongs to another program: the start marker differs). For a run on
another host nothing can be told from here (PostgreSQL's advisory lock can).
"""
from __future__ import annotations

import os
import socket


def host_name() -> str:
    """This machine's name as stored on runs."""
    return socket.gethostname()[:255]


def start_marker(pid: int) -> str | None:
    """The boot id and the process's start time since boot (Linux), so a reused pid is told apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            start = stat.read().rsplit(")", 1)[1].split()[19]  # field 22: starttime
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            return f"{boot.read().strip()[:36]}:{start}"
    except (OSError, IndexError):
        return None


def this_process() -> tuple[str, int, str | None]:
    """(host, pid, start marker) of the running process."""
    pid = os.getpid()
    return host_name(), pid, start_marker(pid)


def process_alive(host: str | None, pid: int | None, marker: str | None) -> bool | None:
    """Whether the process lives: True/False on this host, None when it cannot be told (another host)."""
    if pid is None or host != host_name():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to another user
        pass
    if marker and start_marker(pid) not in (None, marker):
        return False  # the pid was reused by a newer process
    return True
