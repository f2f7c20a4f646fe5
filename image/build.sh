#!/usr/bin/env bash
# Build the Raspberry Pi image: pingan-hub on Debian bookworm arm64, read-only root,
# writable data partition, volatile journald (see pingan-hub.yaml).
#
#   image/build.sh [--config FILE]     -> image/build/pingan-hub.img (+ .log)
#
# FILE is the hub's config.toml for this batch of hubs (default: config.example.toml).
# Needs root, vmdb2, qemu-user-static, binfmt-support, kpartx, parted, dosfstools
# (apt-get install vmdb2 qemu-user-static binfmt-support kpartx parted dosfstools).
# The same inputs give the same image contents except for package versions from the
# mirror at build time: pin them with a snapshot mirror (snapshot.debian.org) in
# pingan-hub.yaml to reproduce an image exactly.
set -euo pipefail
cd "$(dirname "$0")"
config=../config.example.toml
if [ "${1:-}" = "--config" ]; then config=$2; fi
[ "$(id -u)" = 0 ] || { echo "run as root (vmdb2 needs loop devices)" >&2; exit 1; }
command -v vmdb2 >/dev/null || { echo "apt-get install vmdb2 qemu-user-static binfmt-support kpartx" >&2; exit 1; }
mkdir -p build/dist
rm -f build/dist/*.whl
python=../.venv/bin/python
[ -x "$python" ] || python=python3
(cd .. && "$python" -m pip wheel -q --no-deps -w image/build/dist .)
mv build/dist/pingan_hub-*.whl build/dist/pingan-hub.whl
cp "$config" build/config.toml
"$python" - <<'PY'
import sys, tomllib
cfg = tomllib.load(open("build/config.toml", "rb"))
if cfg.get("gpio", {}).get("pin_factory", "lgpio") == "mock":
    sys.exit("build/config.toml: gpio.pin_factory must not be mock on a real hub")
PY
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
vmdb2 pingan-hub.yaml --output build/pingan-hub.img --rootfs-tarball build/rootfs.tar.gz \
  --log build/pingan-hub.log
echo "image: image/build/pingan-hub.img (write it with: dd if=... of=/dev/sdX bs=4M conv=fsync)"
