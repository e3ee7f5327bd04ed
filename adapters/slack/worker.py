"""Blocking calls into the core and the store, run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CoreRunner:
    """Runs `Bot` and store calls in a worker thread, so the event loop keeps serving.

    Concurrent calls are fine: the store serialises SQLite transactions itself, and
    PostgreSQL handles concurrent ones.
    """

    async def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)
