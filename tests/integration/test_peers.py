"""The peers' self-tests (peers/selftest.py) under ctest: the library the integration tests
stand on is checked first, with no shardline process."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers.selftest import *  # noqa: E402,F401,F403

if __name__ == "__main__":
    unittest.main()
