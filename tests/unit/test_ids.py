"""Request and event IDs: the shapes clients and the trail expect, unique, and a forked worker
(``serve --workers N``) never repeats its parent's."""

from __future__ import annotations

import os
import uuid

from keyhouse import ids


def test_event_ids_are_random_version_4_uuids_written_as_uuid_writes_them() -> None:
    drawn = [ids.event_id() for _ in range(1000)]  # several pools
    assert len(set(drawn)) == len(drawn)
    for text in drawn:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_request_ids_are_uuid_shaped_and_count_up() -> None:
    first, second = ids.request_id(), ids.request_id()
    assert str(uuid.UUID(first)) == first.lower() and first != second
    assert first[:24] == second[:24]


def test_a_forked_process_draws_ids_of_its_own() -> None:
    ids.event_id()  # the parent's pool is started
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next IDs and leave
        os.write(write, f"{ids.event_id()} {ids.request_id()}".encode())
        os._exit(0)
    os.close(write)
    child_event, child_request = os.read(read, 200).decode().split()
    os.waitpid(pid, 0)
    assert child_event != ids.event_id()
    assert child_request[:24] != ids.request_id()[:24]
