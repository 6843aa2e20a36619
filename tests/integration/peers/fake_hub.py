"""A hub in Python for the other side of `shardline run`'s v2 handshake: what the cluster
sends, and whether it checks the hub's proof (a server_mac signed with the wrong key is a fake
hub the cluster must drop)."""
import hmac
import socket
import threading

from .framing import Closed, FrameStream
from .inbox import Inbox
from .v2 import client_mac, random_hex16, server_mac
from .wait import Deadline, Timeout


class FakeHub:
    """A one-connection v2 hub in Python, to check what `shardline run` sends and that it
    verifies server_mac. `mac_key` signs the server_mac (the wrong key = a fake hub).
    Its record is its status: `frames` (everything the cluster sent, in order), `raw`,
    `proof_ok`, and `inbox` to wait on frames after the handshake."""

    def __init__(self, secret, mac_key, timeout=10.0):
        self.secret, self.mac_key = secret, mac_key
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.srv.settimeout(timeout)
        self.port = self.srv.getsockname()[1]
        self.timeout = timeout
        self.inbox = Inbox("fakehub")
        self.stream = None
        self.errors = []
        self.proof_ok = None
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    @property
    def frames(self):
        return list(self.inbox.items)

    @property
    def raw(self):
        return bytes(self.stream.received) if self.stream else b""

    def _serve(self):
        try:
            s, _ = self.srv.accept()
            self.stream = FrameStream(s, "fakehub")
            deadline = Deadline(self.timeout, "frame from the cluster")

            def rd():
                f = self.stream.read(deadline)
                self.inbox.put(f)
                return f
            auth = rd()["data"]
            sn = random_hex16()
            self.stream.send({"op": "auth_challenge", "source": "fakehub",
                              "data": {"proto": 2, "server_nonce": sn}})
            mac = rd()["data"]["mac"]
            want = client_mac(self.secret, auth["cluster_name"], auth["client_nonce"], sn)
            self.proof_ok = hmac.compare_digest(mac, want)
            smac = server_mac(self.mac_key, auth["cluster_name"], auth["client_nonce"], sn)
            self.stream.send({"op": "auth_response", "source": "fakehub", "data": {
                "success": True, "server_cluster": "fakehub",
                "connected_clients": [auth["cluster_name"]], "proto": 2, "server_mac": smac}})
            try:
                while True:
                    rd()
            except (Closed, Timeout) as e:
                self.inbox.end(e)
            self.stream.close()
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
            self.inbox.end(e)
        finally:
            self.srv.close()

    def peer_closed(self):
        """True once the cluster closed the connection (not the fake hub's own deadline)."""
        return isinstance(self.inbox.error, Closed)

