#!/usr/bin/env bash
# Installs the Debian 12 packages Shardline builds, tests and benchmarks with, and any extra
# packages named as arguments (make compare adds its peers: redis-server, python3-matplotlib).
# Idempotent: does nothing when every package is already there.
set -euo pipefail
packages=(
  g++ cmake ninja-build ccache make pkg-config python3 clang libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev zlib1g-dev libisal-dev libsimdjson-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  nats-server libnats-dev openssl procps
  python3-discord  # discord.py 2.x: the bot endpoint's acceptance test (tests/integration/test_bot_endpoint.py)
  "$@"
)
# node and npm run the discord.js acceptance test (tests/integration/test_sim_discordjs.py).
# Debian 12's nodejs (v18) and npm, but only when the commands are missing: a machine with
# NodeSource's nodejs (which bundles npm) cannot install Debian's npm beside it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
