#!/usr/bin/env bash
# Build the image the VM tests boot: build.sh with image/vm/config.toml (simulated pins,
# the broker on QEMU's forward) plus a test fleet key, signed updates from a test update
# key. Keys are made once in OUT/keys and never leave this machine.
#
#   image/vm/build-vm.sh [OUT] [build.sh options...]     (OUT default image/build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
out=${1:-$project/image/build}
shift || true
mkdir -p "$out/keys"
out=$(realpath "$out")
python=$project/.venv/bin/python
[ -x "$python" ] || { echo "run ./dev test --co -q once to make .venv" >&2; exit 1; }
if [ ! -f "$out/keys/fleet.pem" ]; then
  "$python" -m hub keygen --key "$out/keys/fleet.pem" >/dev/null
fi
[ -f "$out/keys/update.cert.pem" ] || "$project/image/update-keys.sh" "$out/keys" >/dev/null
{
  cat "$here/config.toml"
  echo
  echo "[fleet]"
  echo "public_keys = [\"$(cat "$out/keys/fleet.pem.pub")\"]"
} >"$out/vm-config.toml"
exec "$project/image/build.sh" --config "$out/vm-config.toml" --allow-mock \
  --update-cert "$out/keys/update.cert.pem" --out "$out" "$@"
