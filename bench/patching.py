"""Timing a function wherever the engine calls it from, without editing the engine.

`replace_everywhere` swaps every module-level reference to a function, in the loaded
modules of a package (import the engine first), for a wrapper, and puts the original
back afterwards. So a function the engine imports by name (`from storage.queries
import enroll_new_targets`) is timed whichever of the engine's modules calls it, even
after code moves between them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ENGINE_PACKAGE = "sequences"


@contextmanager
def replace_everywhere(
    original: Callable[..., Any], wrapper: Callable[..., Any], package: str = ENGINE_PACKAGE
) -> Iterator[int]:
    """Within the block, `package`'s modules see `wrapper` where they had `original`.

    Yields how many references were replaced (0: nothing in `package` uses it).
    """
    swapped: list[tuple[Any, str]] = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(f"{package}.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, wrapper)
                swapped.append((module, attr))
    try:
        yield len(swapped)
    finally:
        for module, attr in swapped:
            setattr(module, attr, original)
