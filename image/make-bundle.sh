#!/usr/bin/env bash
# Make a signed update bundle (rauc, verity format) from a root filesystem built by
# build.sh, on the build/admin machine that holds the update key.
#
#   image/make-bundle.sh ROOTFS.ext4 KEY.pem CERT.pem OUT.raucb
#
# The bundle's version and kind are the root's own (/etc/pingan-release and
# /etc/rauc/system.conf, read with debugfs: no mount), so a bundle cannot claim another version than the hub will report. Start the
# update with `pingan-hub fleet update --version V --url URL --bundle OUT.raucb ...`.
set -euo pipefail
rootfs=$1 key=$2 cert=$3 out=$4
for tool in rauc debugfs mksquashfs; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install rauc e2fsprogs squashfs-tools" >&2; exit 1; }
done
version=$(debugfs -R "cat /etc/pingan-release" "$rootfs" 2>/dev/null | sed -n 's/^VERSION=//p')
[ -n "$version" ] || { echo "$rootfs has no VERSION in /etc/pingan-release" >&2; exit 1; }
# The kind of hub (pingan-hub-arm64, pingan-hub-amd64) is the root's own rauc config's.
compatible=$(debugfs -R "cat /etc/rauc/system.conf" "$rootfs" 2>/dev/null \
  | sed -n 's/^compatible=//p' | head -1)
[ -n "$compatible" ] || { echo "$rootfs has no compatible= in /etc/rauc/system.conf" >&2; exit 1; }
content=$(mktemp -d "${TMPDIR:-/var/tmp}/pingan-bundle.XXXXXX")
trap 'rm -rf "$content"' EXIT
ln "$rootfs" "$content/rootfs.ext4" 2>/dev/null || cp --sparse=always "$rootfs" "$content/rootfs.ext4"
cat >"$content/manifest.raucm" <<MANIFEST
[update]
compatible=$compatible
version=$version

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
MANIFEST
rm -f "$out"
rauc bundle --cert="$cert" --key="$key" --mksquashfs-args="-comp zstd" \
  "$content" "$out" >/dev/null
echo "$out: $compatible version $version, $(( $(stat -c %s "$out") / 1048576 )) MiB"
