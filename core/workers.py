"""Helpers for the forked worker processes of `evaluate` and `sync`."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent() -> None:
    """End this (forked worker) process soon after its parent is gone, e.g. killed with -9, so
    that no worker outlives it waiting for tasks that will never come."""
    parent = os.getppid()
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)
