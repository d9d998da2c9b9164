"""Ordered parallel map over a process pool: results come back in input order, so output never depends on ``jobs``.

At most ``2 * jobs`` tasks are in flight, so results waiting to be consumed (written, summed) stay few and memory
stays bounded however many tasks there are. ``jobs <= 1`` runs in this process, with no pool at all.
Workers are forked (Linux, macOS with care): they start at once with the parent's imports, and work from any
caller, a script without a ``__main__`` guard or a notebook included (``spawn``/``forkserver`` re-import the caller's
main module). Arrow re-creates its thread pools after a fork.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """Both cores of the reference machine, never more than this machine has."""
    return max(1, min(2, os.cpu_count() or 1))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int | None = 1) -> Iterator[R]:
    """``map(fn, items)``, on ``jobs`` worker processes when ``jobs > 1`` (``fn`` and items must pickle);
    ``jobs=None`` means :func:`default_jobs`."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs <= 1:
        yield from map(fn, items)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
