"""The Python peers of Shardline's integration tests, one module per concern:

    wait.py     the one bounded wait (deadline, clear failure message)
    framing.py  length-prefixed JSON frames, one socket reader for both protocol versions
    inbox.py    what a link received, and the waits on it (consuming or looking)
    v2.py       the v2 IPC client, from docs/protocol.md
    fake_hub.py a v2 hub in Python, for the other side of `shardline run`'s handshake
    legacy.py   protocol version 1 as the seed's Python Shard Manager speaks it, and what
                every v1 cluster does; legacy_client.py and legacy_server.py its two roles
    sim.py      websocket and gateway client of `shardline sim`, and its REST API
    procs.py    real shardline processes: environment, logs, port files, the CLI
    status.py   the status APIs tests wait on: hub status, CLI JSON, supervisor, simulator
    cases.py    unittest base classes
    selftest.py self-tests of the peers (python3 -m peers, or test_peers.py under ctest)

Standard library only. Tests run from tests/integration (`python3 -m unittest test_x`), which
puts this package on the import path.
"""
