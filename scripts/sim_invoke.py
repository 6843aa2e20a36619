#!/usr/bin/env python3
"""Invokes slash commands on `shardline sim` as the application's owner and prints the bot's
answers as Discord would show them (embeds as text). Used by `make demo`:

    scripts/sim_invoke.py SIM_PORT clusters ipcstatus "broadcastmsg=Deploy at 18:00 UTC"

Standard library only; waits at most 15 s for the answer."""
import json
import re
import sys
import time
import urllib.request


def rest(port, path, body=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bot {token}")
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read() or b"null")


def show(message):
    lines = []
    if message.get("content"):
        lines.append(message["content"])
    for e in message.get("embeds", []):
        lines.append(f"┃ {e.get('title', '')}")
        for line in e.get("description", "").splitlines():
            lines.append(f"┃ {line}")
        for f in e.get("fields", []):
            lines.append("┃")
            lines.append(f"┃ {f['name']}")
            lines += [f"┃   {v}" for v in f["value"].splitlines()]
        if "footer" in e:
            lines.append(f"┃ {e['footer']['text']}")
    flags = " (only you can see this)" if message.get("flags", 0) & 64 else ""
    # Bold markers off, except inside `code` (a masked secret is a row of stars).
    text = "\n".join(lines)
    parts = text.split("`")
    text = "`".join(re.sub(r"\*\*(.*?)\*\*", r"\1", p) if i % 2 == 0 else p for i, p in enumerate(parts))
    return text + flags


def invoke(port, owner, guild, command):
    name, _, message = command.partition("=")
    body = {"name": name, "guild_id": guild, "user_id": owner}
    if message:
        body["options"] = [{"name": "message", "type": 3, "value": message}]
    iid = rest(port, "/_sim/interactions", body)["id"]
    print(f"/{name}" + (f" message: {message}" if message else ""))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rec = rest(port, f"/_sim/interactions/{iid}")
        cb = rec["callback"]
        if cb and cb["type"] == 4:
            print(show(cb["data"]))
            return True
        if cb and cb["type"] == 5 and rec["edits"]:
            print("(deferred, then edited)\n" + show(rec["edits"][-1]))
            return True
        time.sleep(0.05)
    print(f"no answer to /{name} within 15 s", file=sys.stderr)
    return False


def main():
    port, commands = int(sys.argv[1]), sys.argv[2:]
    # One read of the application: its route is rate-limited like Discord's.
    owner = rest(port, "/api/v10/oauth2/applications/@me", token="sim-token")["owner"]["id"]
    guild = rest(port, "/_sim/world?shards=1")["per_shard"]["0"]["guild_ids"][0]
    ok = True
    for i, command in enumerate(commands):
        if i:
            print()
        ok = invoke(port, owner, guild, command) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
