"""The status APIs the tests wait on, instead of log lines. Each state a test needs and where
it is read:

- a cluster linked to the hub: the hub's `hub_status_response` lists it (role cluster) with
  the stats it publishes right after linking, so the cluster's side of the link is up too;
- a cluster gone, its health, heartbeat age, protocol and address, the IDENTIFY queue, the
  count of stored sessions: `hub_status_response` (docs/ipc-hub.md);
- shards READY, resumed, stopped: `shardline query shard_status --json`; the hub's view as
  the operator sees it: `shardline ipc-status --json`, `shardline clusters --json`;
- a supervisor's clusters (pid, generation, restarts, given up) and its reshard:
  `launch_request {action: "status"}` (docs/supervisor.md);
- the simulator: `/_sim/stats`, `/_sim/sessions`, `/_sim/world` (sim.rest).

Every wait here polls one of those with the one bounded wait (wait.py).
"""
import json

from .inbox import short
from .procs import SECRET, base_env, run_cli
from .v2 import connect, new_nonce
from .wait import wait_until


class HubAdmin:
    """An admin connection to a hub, for its status. Opened for one wait and closed after:
    the hub lists admins among its clients, so none is left behind a test."""

    def __init__(self, port, secret=SECRET, timeout=5.0):
        self.conn = connect(port, secret, f"status-{new_nonce()[:8]}", role="admin", timeout=timeout)
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    def request(self, op, reply_op, data=None, target=None):
        rid = new_nonce()[:12]
        self.conn.send(op, data, id=rid, target=target)
        return self.conn.wait_op(reply_op, timeout=self.timeout, reply_to=rid)["data"]

    def status(self):
        """The hub's `hub_status_response` data."""
        return self.request("hub_status_request", "hub_status_response")

    def launch_status(self):
        """The supervisor's status (`launch_request {action: status}`): only a hub hosted
        by `shardline launch` answers it."""
        return self.request("launch_request", "launch_response", {"action": "status"},
                            target=self.conn.auth_response["server_cluster"])


def hub_status(port, secret=SECRET):
    with HubAdmin(port, secret) as adm:
        return adm.status()


def clients(status, role="cluster"):
    """{name: entry} of the hub's clients of this role."""
    return {c["name"]: c for c in status["clients"] if c["role"] == role}


def _poll(fetch, check, timeout, what, procs):
    last = [None]

    def poll():
        for p in procs:
            p.alive_or_fail(what)
        last[0] = fetch()
        return check(last[0]) if last[0] is not None else None
    return wait_until(poll, timeout, what, detail=lambda: f"last status seen: {short(last)}")


def wait_hub(port, check, what, timeout=10.0, procs=(), secret=SECRET):
    """Polls the hub's status until check(status) returns something truthy; returns it.
    `procs`: processes that must stay up meanwhile (the wait fails at once if one exits)."""
    with HubAdmin(port, secret) as adm:
        return _poll(adm.status, check, timeout, what, procs)


def entry(name, role="cluster", **want):
    """A check for wait_hub: the client `name` of this role, once its entry has the wanted
    values (e.g. health="red")."""
    def check(status):
        c = clients(status, role).get(name)
        return c if c and all(c.get(k) == v for k, v in want.items()) else None
    return check


def linked(name, proto=None):
    """A check for wait_hub: cluster `name`'s entry, once it is linked and has published its
    first stats (and speaks `proto`, if given)."""
    def check(status):
        c = clients(status).get(name)
        return c if c and "stats" in c and (proto is None or c["proto"] == proto) else None
    return check


def wait_linked(port, name, timeout=10.0, procs=(), proto=None):
    """Cluster `name` linked to the hub on `port`; its hub_status entry."""
    return wait_hub(port, linked(name, proto), f"{name} linked to the hub", timeout, procs)


def wait_gone(port, name, timeout=10.0):
    """Until the hub no longer lists `name`."""
    wait_hub(port, lambda st: name not in {c["name"] for c in st["clients"]},
             f"{name} gone from the hub", timeout)


def wait_launch(port, check, what, timeout=30.0, procs=()):
    """Polls the supervisor's status until check(status) returns something truthy."""
    with HubAdmin(port) as adm:
        return _poll(adm.launch_status, check, timeout, what, procs)


def slot(status, name):
    """A supervisor's entry for cluster `name`, or None."""
    return next((c for c in status["clusters"] if c["name"] == name), None)


def cli_json(args, env, timeout=20.0):
    """The JSON a `shardline ... --json` command prints, or None if it failed."""
    res = run_cli(list(args), env, timeout=timeout)
    if res.returncode != 0:
        return None
    return json.loads(res.stdout)


def wait_cli(args, env, check, what, timeout=10.0, procs=()):
    """Polls `shardline <args>` (a --json command: ipc-status, clusters, query) until
    check(its output) is truthy; returns that."""
    return _poll(lambda: cli_json(args, env), check, timeout, what, procs)


def shard_status(hub_port, target=None, timeout_ms=3000, env=None):
    """{shard_id: status entry, with its "cluster"} from `shardline query shard_status`, or
    None if the query failed."""
    args = ["query", "shard_status", "--json", "--timeout-ms", str(timeout_ms)]
    if target is not None:
        args += ["--target", target]
    out = cli_json(args, env or base_env(hub_port), timeout=15)
    if out is None:
        return None
    shards = {}
    for name, entries in out["results"].items():
        if target is not None and name != target:
            continue
        if isinstance(entries, list):
            for s in entries:
                shards[s["shard_id"]] = dict(s, cluster=name)
    return shards


def all_ready(count):
    """A check for wait_shards: exactly `count` shards, every one READY."""
    return lambda st: len(st) == count and all(s["status"] == "ready" for s in st.values())


def wait_shards(hub_port, check, what, timeout=20.0, target=None, procs=()):
    """Polls shard_status until check(shards) is truthy; returns the shards."""
    def fetch():
        return shard_status(hub_port, target)
    return _poll(fetch, lambda st: st if st and check(st) else None, timeout, what, procs)
