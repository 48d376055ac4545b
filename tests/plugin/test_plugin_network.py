"""The pytest plugin with the simulated network: a marked test that talks to a server it
started finds a bug through an injected fault, reports what the network did, and replays."""

from __future__ import annotations

import pytest
from plugin_support import replay_token, section_lines, source

NETWORK_TEST = """
import asyncio

import pytest
import simloop


async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()
    writer.close()


@pytest.mark.simloop(runs=100)
async def test_client_survives_the_network():
    net = simloop.net.current()
    db = net.add_host("db")
    net.may_partition(db, seconds=[5.0])
    with db:
        server = await asyncio.start_server(handle, port=5432)
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("db", 5432)
            try:
                writer.write(b"ping\\n")
                # The bug: no retry when the answer does not come in time.
                assert await asyncio.wait_for(reader.readline(), 1.0) == b"ping\\n"
            finally:
                writer.close()
                await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
"""


def test_a_marked_test_finds_a_bug_through_a_partition(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_net=source(NETWORK_TEST))
    result = tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    section = "\n".join(section_lines(result))
    assert "isolate db" in section
    token = replay_token(result)
    again = tester.runpytest(
        "-p",
        "no:randomly",
        "test_net.py::test_client_survives_the_network",
        f"--simloop-replay={token}",
    )
    again.assert_outcomes(failed=1)
    assert "isolate db" in "\n".join(section_lines(again))
