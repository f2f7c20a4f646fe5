#!/usr/bin/env bash
# Make the image's filesystems from directories and lay them into one disk file, with no
# mounts, loop devices or device-mapper: mkfs.ext4 -d, mkfs.vfat + mcopy, sfdisk, dd.
#
#   image/assemble.sh ROOT OUT    -> OUT/rootfs.ext4, OUT/firmware.vfat, OUT/data.ext4,
#                                    OUT/pingan-hub.img
# ROOT/boot/firmware becomes the firmware partition; the rest of ROOT the root filesystem.
# Times and identifiers come from SOURCE_DATE_EPOCH and fixed values, so the same tree
# gives the same bytes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$1 out=$2
# shellcheck source=layout.sh
. "$here/layout.sh"
export E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:?}
uid=$(awk -F: '$1 == "pingan-hub" {print $3 ":" $4}' "$root/etc/passwd")
[ -n "$uid" ] || { echo "no pingan-hub user in $root" >&2; exit 1; }

# The firmware partition's files leave the tree while the root filesystem is made.
stage=$out/firmware-tree
rm -rf "$stage"
mv "$root/boot/firmware" "$stage"
mkdir -m 0755 "$root/boot/firmware"
restore() { rmdir "$root/boot/firmware" && mv "$stage" "$root/boot/firmware"; }
trap restore EXIT

# Root: the tree's size plus a fifth (ext4's own metadata, a little room), in 4 MiB steps.
kib=$(du -sk --apparent-size "$root" | cut -f1)
root_mb=$(( (kib * 6 / 5 / 1024 + 64 + 3) / 4 * 4 ))
[ "$root_mb" -le "$SLOT_MB" ] || { echo "the root needs $root_mb MiB; a slot has $SLOT_MB" >&2; exit 1; }
rm -f "$out/rootfs.ext4"
mkfs.ext4 -q -F -L pingan-root -U 50494e47-0000-4000-8000-000000000002 \
  -E root_owner=0:0,hash_seed=50494e47-0000-4000-8000-0000000000aa \
  -d "$root" "$out/rootfs.ext4" "${root_mb}M"
trap - EXIT
restore

# Firmware: FAT32 (the Pi's boot ROM and firmware read only FAT), fixed volume id.
rm -f "$out/firmware.vfat"
mkfs.vfat -F 32 -n RASPIFIRM -i 50494e47 -C "$out/firmware.vfat" $((FIRMWARE_MB * 1024)) >/dev/null
(cd "$root/boot/firmware" && find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +)
mcopy -s -m -i "$out/firmware.vfat" "$root"/boot/firmware/* ::/

# Data: empty, owned by the hub's user; grown to fill the card at first boot.
empty=$(mktemp -d)
chown "$uid" "$empty"
chmod 0700 "$empty"
rm -f "$out/data.ext4"
mkfs.ext4 -q -F -L PINGANDATA -U 50494e47-0000-4000-8000-000000000004 \
  -E root_owner="$uid",hash_seed=50494e47-0000-4000-8000-0000000000bb \
  -d "$empty" "$out/data.ext4" "${DATA_MB}M"
rmdir "$empty"

img=$out/pingan-hub.img
rm -f "$img"
truncate -s "${DISK_MB}M" "$img"
mib=2048  # sectors per MiB
sfdisk -q "$img" <<TABLE
label: dos
label-id: $DISK_ID
unit: sectors
start=$((FIRMWARE_START * mib)), size=$((FIRMWARE_MB * mib)), type=c, bootable
start=$((ROOT_A_START * mib)), size=$((SLOT_MB * mib)), type=83
start=$((ROOT_B_START * mib)), size=$((SLOT_MB * mib)), type=83
start=$((DATA_START * mib)), size=$((DATA_MB * mib)), type=83
TABLE
put() { dd if="$1" of="$img" bs=1M seek="$2" conv=notrunc,sparse status=none; }
put "$out/firmware.vfat" "$FIRMWARE_START"
put "$out/rootfs.ext4" "$ROOT_A_START"
put "$out/data.ext4" "$DATA_START"
# Slot B stays empty (zeros) until the first update writes it.
