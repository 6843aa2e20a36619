"""`shardline sim`'s model of Discord's REST rate limits, over real HTTP: the buckets' headers
and their sharing, the global limit and what it leaves out, the deterministic 403, shared-scope
429s, the invalid-request ban without headers, and the /_sim/rest/ control routes. The rules
themselves are unit-tested with a driven clock (tests/unit/sim/rest_limiter_test.cpp); this
checks what a client reads on the wire."""
import os
import unittest

from peers import procs
from peers.cases import require_binary
from peers.sim import rest
from peers.wait import pace

TOKEN = "sim-test-token"
REACTION = "PUT /channels/{channel}/messages/{message}/reactions/{emoji}/@me"


class SimRestLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()

    def start_sim(self, *args):
        flags = {"--token": TOKEN, "--guilds": 20, "--rest-global-per-sec": 1000}
        flags.update(zip(args[::2], args[1::2]))
        self.proc, self.port = procs.start_sim(flags)
        self.addCleanup(self.proc.stop)
        _, world = rest(self.port, "/_sim/world?shards=1")
        self.guilds = world["per_shard"]["0"]["guild_ids"]
        _, self.limits = rest(self.port, "/_sim/rest/limits")
        return self.port

    def api(self, method, path, body=None, token=TOKEN):
        return rest(self.port, "/api/v10" + path, token, method=method, body=body, with_headers=True)

    def rest_stats(self):
        return rest(self.port, "/_sim/stats")[1]["rest"]

    def group(self, name):
        return next(g for g in self.limits["groups"] if g["name"] == name)

    def channel(self, i):
        return int(self.guilds[i]) + 1  # each guild's #general

    def test_buckets_are_shared_by_routes_and_split_by_channel(self):
        self.start_sim("--rest-bucket", "messages=3/60000")
        messages, reactions = self.group("messages"), self.group("reactions")
        self.assertEqual((messages["limit"], messages["window_ms"], messages["major"]), (3, 60000, "channel"))
        self.assertEqual(messages["routes"], ["POST /channels/{channel}/messages",
                                              "PATCH /channels/{channel}/messages/{message}"])
        self.assertEqual((reactions["limit"], reactions["window_ms"]), (1, 250))
        self.assertIn(REACTION, reactions["routes"])

        # A create and an edit in one channel spend one bucket; another channel has its own.
        c = self.channel(0)
        for remaining, (method, path, body) in zip((2, 1, 0), [("POST", f"/channels/{c}/messages", {"content": "a"}),
                                                           ("PATCH", f"/channels/{c}/messages/77", {"content": "b"}),
                                                           ("POST", f"/channels/{c}/messages", {"content": "c"})]):
            status, msg, h = self.api(method, path, body)
            self.assertEqual(status, 200, msg)
            self.assertEqual((h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]), ("3", str(remaining)))
            self.assertEqual(h["X-RateLimit-Bucket"], messages["hash"])
            self.assertTrue(0 < float(h["X-RateLimit-Reset-After"]) <= 60.0)
        status, edited, _ = self.api("PATCH", f"/channels/{c}/messages/77", {"content": "b"})
        self.assertEqual(status, 429)
        status, body, h = self.api("PATCH", f"/channels/{c}/messages/77", {"content": "b"})
        self.assertEqual((status, body["global"], h["X-RateLimit-Scope"]), (429, False, "user"))
        self.assertEqual((h["X-RateLimit-Remaining"], h["X-RateLimit-Bucket"]), ("0", messages["hash"]))
        status, _, h = self.api("POST", f"/channels/{self.channel(1)}/messages", {"content": "elsewhere"})
        self.assertEqual((status, h["X-RateLimit-Remaining"], h["X-RateLimit-Bucket"]), (200, "2", messages["hash"]))

        # One reaction per 250 ms per channel; waiting Reset-After, exactly, is enough.
        path = f"/channels/{c}/messages/77/reactions/%F0%9F%91%8D/@me"
        status, _, h = self.api("PUT", path)
        self.assertEqual((status, h["X-RateLimit-Remaining"], h["X-RateLimit-Bucket"]), (204, "0", reactions["hash"]))
        status, body, h = self.api("DELETE", path)
        self.assertEqual((status, h["X-RateLimit-Scope"]), (429, "user"))
        self.assertTrue(0 < body["retry_after"] <= 0.25)
        self.assertEqual(float(h["X-RateLimit-Reset-After"]), body["retry_after"])
        pace(body["retry_after"])  # the client follows the answer
        self.assertEqual(self.api("DELETE", path)[0], 204)

        st = self.rest_stats()
        self.assertEqual(st["rate_limited"], {"user": 3, "global": 0, "shared": 0, "banned": 0})
        self.assertEqual(st["by_group"]["messages"], {"requests": 6, "429": 2})
        self.assertEqual(st["by_group"]["reactions"], {"requests": 3, "429": 1})
        self.assertEqual((st["requests"], st["ok"]), (9, 6))
        self.assertEqual(st["invalid"], {"window": 3, "total": 3})

    def test_global_limit_leaves_the_interaction_callback_out(self):
        port = self.start_sim("--rest-global-per-sec", 3)
        self.assertEqual(self.limits["global_per_sec"], 3)
        self.assertEqual(self.limits["global_exempt"], ["interaction_callback", "webhook"])
        app = rest(port, "/api/v10/users/@me", TOKEN)[1]["id"]  # the global window opens here
        status, _ = rest(port, f"/api/v10/applications/{app}/commands", TOKEN, method="PUT",
                         body=[{"name": "ping", "description": "Ping!"}])
        self.assertEqual(status, 200)
        _, inj = rest(port, "/_sim/interactions", method="POST", body={"name": "ping", "guild_id": self.guilds[0]})
        self.assertEqual(self.api("GET", "/gateway/bot")[0], 200)
        status, body, h = self.api("GET", "/applications/@me")
        self.assertEqual((status, body["global"]), (429, True))
        self.assertEqual((h["X-RateLimit-Global"], h["X-RateLimit-Scope"]), ("true", "global"))
        self.assertIsNotNone(h["Retry-After"])
        self.assertIsNone(h["X-RateLimit-Bucket"])
        # The callback and the interaction webhook answer within the same second.
        cb = f"/api/v10/interactions/{inj['id']}/{inj['token']}/callback"
        status, _, h = rest(port, cb, method="POST", body={"type": 4, "data": {"content": "pong"}}, with_headers=True)
        self.assertEqual(status, 204)
        self.assertIsNone(h["X-RateLimit-Limit"])
        status, _ = rest(port, f"/api/v10/webhooks/{app}/{inj['token']}", method="POST", body={"content": "more"})
        self.assertEqual(status, 200)
        self.assertEqual(self.rest_stats()["rate_limited"]["global"], 1)

    def test_a_ban_of_the_owner_is_403_and_shared_limits_are_not_invalid(self):
        self.start_sim()
        guild, owner, user = self.guilds[0], self.limits["forbidden_ban_user"], "175928847299117063"
        status, app = rest(self.port, "/api/v10/applications/@me", TOKEN)
        self.assertEqual(app["owner"]["id"], owner)
        status, err, h = self.api("PUT", f"/guilds/{guild}/bans/{owner}", {"delete_message_seconds": 0})
        self.assertEqual((status, err["code"], err["message"]), (403, 50013, "Missing Permissions"))
        self.assertEqual((h["X-RateLimit-Bucket"], h["X-RateLimit-Remaining"]), (self.group("bans")["hash"], "4"))
        self.assertEqual(self.api("PUT", f"/guilds/{guild}/bans/{user}", {"delete_message_seconds": 3600})[0], 204)
        self.assertEqual(self.api("PUT", f"/guilds/{guild}/bans/{user}", {"delete_message_seconds": -1})[0], 400)
        status, bans, _ = self.api("GET", f"/guilds/{guild}/bans")
        self.assertEqual([b["user"]["id"] for b in bans], [user])
        self.assertEqual(self.api("PUT", "/guilds/123/bans/5")[0], 404)  # unknown guild

        # Shared 429s: the group is named by one of its routes.
        status, ok = rest(self.port, "/_sim/rest/shared-limit", method="POST",
                          body={"route": REACTION, "count": 2, "retry_after_ms": 700})
        self.assertEqual((status, ok["group"]), (200, "reactions"))
        path = f"/channels/{self.channel(0)}/messages/77/reactions/blob:123/@me"
        for _ in range(2):
            status, body, h = self.api("PUT", path)
            self.assertEqual((status, h["X-RateLimit-Scope"], body["retry_after"]), (429, "shared", 0.7))
        self.assertEqual(self.api("PUT", path)[0], 204)
        for bad in ({"route": "nope", "count": 1, "retry_after_ms": 1}, {"route": "reactions", "count": -1}):
            self.assertEqual(rest(self.port, "/_sim/rest/shared-limit", method="POST", body=bad)[0], 400, bad)
        st = self.rest_stats()
        self.assertEqual(st["rate_limited"]["shared"], 2)
        self.assertEqual(st["invalid"], {"window": 1, "total": 1})  # the 403 alone

    def test_the_invalid_request_ban_answers_everything_429_without_headers(self):
        port = self.start_sim("--rest-invalid-limit", 4, "--rest-ban-ms", 1500)
        self.assertEqual((self.limits["invalid_limit"], self.limits["ban_ms"]), (4, 1500))
        for _ in range(3):
            self.assertEqual(rest(port, "/api/v10/users/@me", "wrong")[0], 401)
        self.assertFalse(self.rest_stats()["banned"])
        self.assertEqual(self.api("PUT", f"/guilds/{self.guilds[0]}/bans/{self.limits['forbidden_ban_user']}")[0], 403)
        st = self.rest_stats()
        self.assertTrue(st["banned"])
        for path, token in (("/users/@me", TOKEN), ("/gateway", None), ("/nope", TOKEN)):
            status, body, h = rest(port, "/api/v10" + path, token, with_headers=True)
            self.assertEqual(status, 429, path)
            self.assertIn("blocked from accessing our API", body["message"])
            self.assertTrue(1 <= int(h["Retry-After"]) <= 2)
            self.assertEqual([k for k in h.keys() if k.lower().startswith("x-ratelimit")], [], path)
        st = self.rest_stats()
        self.assertEqual(st["rate_limited"]["banned"], 3)
        self.assertEqual(st["invalid"], {"window": 7, "total": 7})
        self.assertEqual(rest(port, "/_sim/stats")[1]["violations"]["rest_banned"], 1)

        pace(1.5)  # the ban's length: the scenario
        self.assertEqual(self.api("GET", "/users/@me")[0], 200)
        status, _ = rest(port, "/_sim/rest/reset", method="POST", body={})
        self.assertEqual(status, 200)
        st = self.rest_stats()
        self.assertEqual((st["requests"], st["invalid"], st["banned"]), (0, {"window": 0, "total": 0}, False))

    def test_an_unknown_bucket_name_is_a_clear_error(self):
        res = procs.run_cli(["sim", "--rest-bucket", "mesages=50/1000"], dict(os.environ))
        self.assertEqual(res.returncode, 2)
        self.assertIn("unknown REST bucket 'mesages'", res.stderr)
        self.assertIn("reactions", res.stderr)


if __name__ == "__main__":
    unittest.main()
