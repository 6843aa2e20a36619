"""The one bounded wait of the integration tests.

Every wait in the peers and the tests goes through `wait_until` (or, for a quiet period that
proves something does NOT happen, `hold`): it has a deadline, and a failure says what was
awaited, for how long, and what was seen instead. How the wait passes its time between two
checks is the caller's `pause`: a short sleep when polling a status API, a condition
variable when a reader thread feeds an inbox, a socket read when the caller itself reads.
"""
import time

DEFAULT_TIMEOUT = 10.0
POLL_S = 0.02


class Timeout(AssertionError, TimeoutError):
    """Nothing (or nothing matching) before the deadline. An AssertionError, so unittest
    reports a failure; a TimeoutError, so code written against socket timeouts catches it."""


class Deadline:
    """A point in time `timeout` seconds from now, and how to fail when it has passed."""

    def __init__(self, timeout, what="condition"):
        self.timeout = timeout
        self.what = what
        self.end = time.monotonic() + timeout

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def passed(self):
        return time.monotonic() >= self.end

    def fail(self, detail=""):
        raise Timeout(f"no {self.what} within {self.timeout:g}s" + (f"; {detail}" if detail else ""))


def every(seconds):
    """A pause for polling: look again after `seconds`, never past the deadline."""
    return lambda deadline: time.sleep(min(seconds, deadline.left()))


sleep_a_little = every(POLL_S)   # the default pause


def wait_until(check, timeout=DEFAULT_TIMEOUT, what="condition", detail=None, pause=sleep_a_little):
    """Calls check() until it returns something truthy, and returns that. At the deadline,
    fails with Timeout naming `what` and `detail()` (a log tail, the last value seen). check()
    may raise to fail early (a process that exited, a connection that closed). pause(deadline)
    passes the time between two checks and must return by the deadline."""
    d = Deadline(timeout, what)
    while True:
        value = check()
        if value:
            return value
        if d.passed():
            d.fail(detail() if detail else "")
        pause(d)


def pace(seconds):
    """Lets `seconds` pass where the time itself is the scenario (a client that waits the
    retry_after it was given, a heartbeat period, an identify window): never a wait for a
    state, which is wait_until's."""
    time.sleep(seconds)


def hold(seconds, pause=sleep_a_little, stop=None):
    """A quiet period: lets `seconds` pass (pausing with `pause`), or less if stop() turns
    true. Used only to prove that something does NOT happen within a bounded time."""
    d = Deadline(seconds, "quiet period")
    while not d.passed() and not (stop and stop()):
        pause(d)
