"""`npm ci` of a pinned package into a scratch copy, for the tests that run a real discord.js
(test_sim_discordjs, and the bots of test_bot_endpoint / test_launch_bots through bots.py).
Without node >= 18, npm, or the registry the test fails with the reason: it never skips."""

import os
import shutil
import subprocess

from . import procs

NPM_CI_TIMEOUT = 240


def install(src_dir, files, prefix):
    """Copies `files` of `src_dir` (package.json and package-lock.json among them) into a new
    scratch directory named with `prefix`, runs `npm ci` there and returns the directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        raise AssertionError(f"discord.js needs node (>= 18) and npm, but {missing} is not on PATH; "
                             "run scripts/install-deps.sh")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 18:
        raise AssertionError(f"discord.js 14 needs node >= 18, found {version}")
    workdir = procs.scratch_dir(prefix)
    for name in files:
        shutil.copy(os.path.join(src_dir, name), workdir)
    env = dict(os.environ, npm_config_update_notifier="false")
    try:
        res = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline"],
                             cwd=workdir, env=env, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"npm ci did not finish within {NPM_CI_TIMEOUT}s (is the npm registry reachable?)")
    if res.returncode != 0:
        raise AssertionError(f"npm ci failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return workdir
