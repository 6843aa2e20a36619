"""python3 -m peers (from tests/integration): the peers' self-tests."""
import unittest

unittest.main(module="peers.selftest", verbosity=2)
