"""Helpers for the forked worker processes of `evaluate` and `sync`."""

from __future__ import annotations

import os
import threading
import time


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system has one (a container's
    cpuset, `taskset`), else every core of the machine; at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # no affinity on this system (macOS, Windows)
        return os.cpu_count() or 1


def exit_with_parent() -> None:
    """End this (forked worker) process soon after its parent is gone, e.g. killed with -9, so
    that no worker outlives it waiting for tasks that will never come."""
    parent = os.getppid()
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)
