"""Record ids: UUIDv7 that sort in the order a process made them, within a millisecond too."""

from __future__ import annotations

import os
import uuid

from shared import ids


def test_ids_made_in_one_millisecond_sort_in_the_order_they_were_made() -> None:
    made = [ids.new_id() for _ in range(20_000)]  # many per millisecond
    assert sorted(made) == made
    assert len(set(made)) == len(made)
    first = uuid.UUID(made[0])
    assert first.version == 7 and first.variant == uuid.RFC_4122
    per_ms: dict[str, int] = {}
    for i in made:
        per_ms[i[:13]] = per_ms.get(i[:13], 0) + 1
    assert max(per_ms.values()) > 1, "the loop never made two ids in one millisecond"


def test_a_forked_child_does_not_count_on_from_its_parents_last_id() -> None:
    ids.new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it holds, then leave without running pytest's exit
        os.write(write, repr(ids._last).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"(0, 0)"
    os.close(read)
