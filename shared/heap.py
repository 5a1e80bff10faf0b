"""What a long-lived process does with its heap once it has started.

CPython's cyclic garbage collector now and then runs a full collection, which visits every object
the process tracks. A service process holds about 150,000 of them once started (modules, the app,
its schemas and tables), and on the benchmark's machine a full collection of those took about
100 ms: a request that makes many objects (a provincial close reads 12,500 votes) triggered one
often enough to double its time (bench/analysis.md). Those objects live as long as the process,
so they are set apart once, after the start: later collections visit only what came after.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what the start left behind, then put every object alive now out of the
    collector's way (``gc.freeze``); they are still freed by reference counting when dropped."""
    gc.collect()
    gc.freeze()
