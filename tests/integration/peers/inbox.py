"""What one link has received, in order, and the waits on it.

Two ways of reading, both bounded by the one wait (wait.py):
- consuming (`take`): the next item that matches, skipping (and so consuming) the others, as
  a client reading its socket does; `seen` is everything consumed so far;
- looking (`find`, `count`, `quiet`): any item since a mark, consuming nothing, as a test
  looking at what a peer has logged does.

An inbox is fed either by a reader thread (`put`, `end`) or, for a single-threaded client,
by `pull(deadline)`, which the waits call to read one more item off the wire.
"""
import json
import threading

from .framing import Closed
from .wait import Timeout, hold, wait_until

DEFAULT_TIMEOUT = 5.0


def short(items, limit=6):
    """The last few items, for failure messages."""
    s = [json.dumps(m, default=repr)[:300] for m in items[-limit:]]
    more = f" (+{len(items) - limit} earlier)" if len(items) > limit else ""
    return "[" + ", ".join(s) + "]" + more


class Inbox:
    def __init__(self, name="peer", pull=None, view=lambda item: item, closed_error=None):
        self.name = name
        self.pull = pull               # pull(deadline): reads one more item (None: fed by put)
        self.view = view               # item -> the message predicates look at
        self.closed_error = closed_error or self._closed
        self.items = []
        self.cursor = 0                # items before it are consumed
        self.error = None              # the Closed (or other error) that ended the link
        self.cv = threading.Condition()

    # ---- feeding
    def put(self, item):
        with self.cv:
            self.items.append(item)
            self.cv.notify_all()

    def end(self, error):
        with self.cv:
            if self.error is None:
                self.error = error
            self.cv.notify_all()

    @property
    def ended(self):
        return self.error is not None

    def mark(self):
        """Position for waits that must ignore what came before."""
        with self.cv:
            return len(self.items)

    @property
    def seen(self):
        """Every item consumed so far (returned by take, or skipped by it)."""
        return self.items[:self.cursor]

    # ---- waiting
    def _pause(self, deadline):
        if self.pull is None:
            self.cv.wait(min(deadline.left(), 0.2))
            return
        try:
            self.pull(deadline)
        except Timeout:
            pass                       # the wait's own check reports the deadline
        except Closed as e:
            self.end(e)

    def _closed(self, what, skipped):
        return Closed(f"{self.name}: closed while waiting for {what} ({self.error}); "
                      f"skipped: {short([self.view(i) for i in skipped])}", skipped)

    def _wait(self, check, timeout, what, detail):
        """check() returns None, or a 1-tuple holding the result (which may be falsy)."""
        def checked():
            found = check()
            if found is None and self.error is not None:
                raise self.closed_error(what, self.items[start:])
            return found
        with self.cv:
            start = self.cursor
            return wait_until(checked, timeout, f"{what} at {self.name}", detail=detail,
                              pause=self._pause)[0]

    def take(self, pred=lambda m: True, timeout=DEFAULT_TIMEOUT, what="matching message"):
        """The next item whose message matches; the items before it are consumed too."""
        start = self.cursor

        def check():
            while self.cursor < len(self.items):
                item = self.items[self.cursor]
                self.cursor += 1
                if pred(self.view(item)):
                    return (item,)
            return None
        return self._wait(check, timeout, what,
                          lambda: f"skipped: {short([self.view(i) for i in self.items[start:]])}")

    def find(self, pred, timeout=DEFAULT_TIMEOUT, what="matching message", after=0):
        """The first item since `after` whose message matches; consumes nothing."""
        def check():
            for item in self.items[after:]:
                if pred(self.view(item)):
                    return (item,)
            return None
        return self._wait(check, timeout, what,
                          lambda: f"got {short([self.view(i) for i in self.items[after:]])}")

    def count(self, pred, n, timeout=DEFAULT_TIMEOUT, what="messages", after=0):
        """The items since `after` whose messages match, once there are at least `n`."""
        def check():
            got = [i for i in self.items[after:] if pred(self.view(i))]
            return (got,) if len(got) >= n else None
        return self._wait(check, timeout, f"{n} {what}",
                          lambda: f"{len([i for i in self.items[after:] if pred(self.view(i))])} of them")

    def take_within(self, seconds):
        """Consumes every item that arrives within `seconds` (a quiet period: used to prove
        that something does NOT arrive); stops early if the link closes."""
        with self.cv:
            hold(seconds, self._pause, stop=lambda: self.ended)
            got = self.items[self.cursor:]
            self.cursor = len(self.items)
            return got

    def quiet(self, pred, seconds, after=0):
        """The matching items since `after`, once `seconds` have passed (expected: none)."""
        with self.cv:
            hold(seconds, self._pause)
            return [i for i in self.items[after:] if pred(self.view(i))]

    def drain_until_closed(self, timeout=DEFAULT_TIMEOUT):
        """Waits until the link closes; returns (and consumes) what arrived before. Raises
        Timeout if it is still open at the deadline."""
        with self.cv:
            start = self.cursor
            wait_until(lambda: self.ended, timeout, f"close of {self.name}", pause=self._pause,
                       detail=lambda: f"still open; received {short([self.view(i) for i in self.items[start:]])}")
            got = self.items[start:]
            self.cursor = len(self.items)
            return got
