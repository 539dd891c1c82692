"""Progress bars that show on a terminal and stay quiet in CI and pipes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def interactive() -> bool:
    """True when stderr is a terminal and we are not in CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar (with ETA) on a terminal, or return it untouched."""
    if not interactive():
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def bar(total: int, desc: str = "") -> tqdm:
    """A manual tqdm bar (``.update(n)``), disabled off a terminal."""
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not interactive())
