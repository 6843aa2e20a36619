"""A stock discord.py 2.x bot (discord.AutoShardedClient) running on Shardline's bot endpoint.

    DISCORD_TOKEN=... DISCORD_API_URL=http://127.0.0.1:PORT/api/v10 python3 bot.py

Under `shardline launch` with SHARD_BOT_COMMAND="python3 bot.py" the supervisor sets every
variable below itself (docs/bots.md). What it reads:

- DISCORD_API_URL: the endpoint's REST base (`.../api/v10`). The one setting discord.py needs:
  `discord.http.Route.BASE`. Everything else (the gateway URL, the shard count) comes from
  `GET /gateway/bot` through that base, as it would from Discord.
- DISCORD_TOKEN: the bot's token (the endpoint checks it, 4004 otherwise).
- SHARD_IDS, SHARD_COUNT (optional): the shards this process runs, e.g. `0,1` or `0-3,8` of
  `16`. Without
  them discord.py runs every shard `GET /gateway/bot` recommends.

What it does: logs in, counts its guilds, answers a message `!ping` with a reply `pong` (REST,
through the endpoint's forward), registers a global slash command `/ping` and answers it. It
prints one JSON object per line on stdout (`ready` with every guild and its channels and
roles, `message`, `replied`, `interaction`, `interaction_replied`, `error`); discord.py's
own log goes to stderr. SIGTERM or SIGINT closes the client and exits 0.

discord.py's defaults that matter on Shardline (see docs/bots.md, "discord.py"):
- with explicit `shard_ids` discord.py 2.x does not ask `GET /gateway/bot` for the gateway URL
  but connects to wss://gateway.discord.gg; `setup_hook` below asks for it instead;
- it waits 5 s before each IDENTIFY but the first (`before_identify_hook`), to respect
  Discord's limit of one IDENTIFY per 5 s; an IDENTIFY to the endpoint starts no Discord
  session (Shardline already holds it), so the hook below does not wait.
"""
import asyncio
import json
import os
import signal
import sys
import time

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket


def emit(event, **fields):
    """One machine-readable line on stdout (flushed: a test reads it as it comes)."""
    sys.stdout.write(json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def shard_settings():
    """(shard_ids, shard_count) from SHARD_IDS (`0,1,2` or ranges `0-3,8`, as `shardline
    launch` writes them) and SHARD_COUNT, or (None, count or None)."""
    text, count = os.environ.get("SHARD_IDS", "").strip(), os.environ.get("SHARD_COUNT", "").strip()
    if not text:
        return None, (int(count) if count else None)
    ids = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        ids.extend(range(int(lo), int(hi or lo) + 1))
    return ids, int(count)


API_URL = os.environ.get("DISCORD_API_URL", "https://discord.com/api/v10").rstrip("/")
# The one setting: every REST request, /gateway/bot included, goes to the endpoint.
discord.http.Route.BASE = API_URL

SHARD_IDS, SHARD_COUNT = shard_settings()


class Bot(discord.AutoShardedClient):
    def __init__(self):
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.message_content = True  # privileged: the cluster's DISCORD_INTENTS must have it too
        super().__init__(intents=intents, shard_ids=SHARD_IDS, shard_count=SHARD_COUNT)
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self):
        if SHARD_IDS is not None:
            # With explicit shard ids discord.py skips GET /gateway/bot and uses its built-in
            # wss://gateway.discord.gg: ask the endpoint, as discord.py does without them.
            data = await self.http.request(discord.http.Route("GET", "/gateway/bot"))
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])
        # PUT /applications/{app}/commands: the global /ping command.
        commands = await self.tree.sync()
        emit("commands", names=[c.name for c in commands])

    async def before_identify_hook(self, shard_id, *, initial=False):
        # Shardline paces the real IDENTIFYs to Discord; the endpoint's are free.
        return None

    async def on_ready(self):
        guilds = []
        for g in self.guilds:
            guilds.append({
                "id": str(g.id), "name": g.name, "shard": g.shard_id,
                "channels": [{"id": str(c.id), "name": c.name} for c in g.channels],
                "roles": [{"id": str(r.id), "name": r.name} for r in g.roles],
            })
        emit("ready", at=int(time.time() * 1000), user=str(self.user.id), shards=sorted(self.shards),
             shard_count=self.shard_count, guild_count=len(guilds), guilds=guilds)

    async def on_message(self, message):
        emit("message", id=str(message.id), guild=str(message.guild.id) if message.guild else None,
             channel=str(message.channel.id), author=str(message.author.id), content=message.content)
        if message.author.id == self.user.id or message.content != "!ping":
            return
        try:
            reply = await message.reply("pong")  # POST /channels/{id}/messages, forwarded
            emit("replied", to=str(message.id), id=str(reply.id), channel=str(reply.channel.id))
        except discord.HTTPException as e:
            emit("error", where="reply", to=str(message.id), status=e.status, message=str(e))


bot = Bot()


@bot.tree.command(name="ping", description="Answers pong")
async def ping(interaction: discord.Interaction):
    emit("interaction", id=str(interaction.id), command="ping",
         guild=str(interaction.guild_id) if interaction.guild_id else None,
         channel=str(interaction.channel_id) if interaction.channel_id else None)
    await interaction.response.send_message(f"pong {interaction.id}")  # the interaction callback
    emit("interaction_replied", id=str(interaction.id))


async def main():
    token = os.environ.get("DISCORD_TOKEN", "")
    if not token:
        sys.stderr.write("DISCORD_TOKEN is not set\n")
        return 2
    discord.utils.setup_logging()  # to stderr
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emit("starting", at=int(time.time() * 1000), api=API_URL, shard_ids=SHARD_IDS, shard_count=SHARD_COUNT,
         discord_py=discord.__version__)
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:  # login failed or the gateway closed us for good
            stopper.cancel()
            error = runner.exception()
            if error is not None:
                emit("error", where="client", type=type(error).__name__, message=str(error))
                return 1
            return 0
        emit("stopping")
        await bot.close()
        runner.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
