#!/usr/bin/env bash
# Lay pingan-hub's files into the Debian root made by build.sh and make it fit a
# read-only mount: units, the hub's user, config, fstab, volatile logs, rauc's slots,
# the boot files of the firmware partition (kept under /boot/firmware in the tree and
# moved to their own filesystem by assemble.sh).
#
#   image/rootfs.sh ROOT CONFIG VERSION COMMIT UPDATE_CERT [ARCH]    (ARCH arm64 or amd64)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
root=$1 config=$2 version=$3 commit=$4 cert=$5 arch=${6:-arm64}
# shellcheck source=layout.sh
. "$here/layout.sh"
inroot() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

# -- the hub: units, user, directories, config --------------------------------------------
install -m 0644 "$project/systemd/pingan-hub.service" "$root/etc/systemd/system/"
for unit in pingan-update.path pingan-update.service pingan-health.service; do
  install -m 0644 "$project/systemd/$unit" "$root/etc/systemd/system/"
done
install -m 0644 "$here/rootfs/pingan-grow-data.service" "$root/etc/systemd/system/"
install -m 0644 "$here/rootfs/pingan-console.service" "$root/etc/systemd/system/"
install -m 0644 "$project/systemd/pingan-hub.sysusers" "$root/usr/lib/sysusers.d/pingan-hub.conf"
install -m 0644 "$project/systemd/pingan-hub.tmpfiles" "$root/usr/lib/tmpfiles.d/pingan-hub.conf"
install -D -m 0644 "$project/systemd/60-pingan-gpio.rules" "$root/usr/lib/udev/rules.d/60-pingan-gpio.rules"
install -D -m 0644 "$project/README.md" "$root/usr/share/doc/pingan-hub/README.md"
mkdir -p "$root/usr/share/pingan-hub"
inroot systemd-sysusers
install -d -m 0750 "$root/etc/pingan-hub"
install -m 0640 "$config" "$root/etc/pingan-hub/config.toml"
inroot chgrp pingan-hub /etc/pingan-hub /etc/pingan-hub/config.toml
inroot /usr/bin/pingan-hub config check /etc/pingan-hub/config.toml >/dev/null
# The data partition is mounted here; the directory under it stays empty.
install -d -m 0700 "$root/var/lib/pingan-hub"
inroot chown pingan-hub:pingan-hub /var/lib/pingan-hub
# What the hub reports as its software version, and what updates compare.
cat >"$root/etc/pingan-release" <<REL
VERSION=$version
COMMIT=$commit
SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH
REL

# -- read-only root ------------------------------------------------------------------------
cat >"$root/etc/fstab" <<'FSTAB'
# / is mounted read-only by the kernel (root=PARTUUID=... ro, from GRUB): slot A or B.
# A slow card (or an emulator) may take long to show its partitions: wait 5 minutes, not
# systemd's 90 s, before giving up on them.
LABEL=RASPIFIRM  /boot/firmware       vfat  ro,noatime,umask=0077,flush,x-systemd.device-timeout=5min 0 2
LABEL=PINGANDATA /var/lib/pingan-hub  ext4  rw,noatime,nodev,nosuid,noexec,data=ordered,x-systemd.device-timeout=5min 0 2
tmpfs            /tmp                 tmpfs nosuid,nodev,size=32M               0 0
tmpfs            /var/tmp             tmpfs nosuid,nodev,size=16M               0 0
tmpfs            /var/log             tmpfs nosuid,nodev,size=16M               0 0
tmpfs            /var/lib/systemd     tmpfs nosuid,nodev,size=4M                0 0
tmpfs            /var/lib/bluetooth   tmpfs nosuid,nodev,size=1M                0 0
FSTAB
mkdir -p "$root/var/lib/bluetooth"
install -D -m 0644 /dev/stdin "$root/etc/systemd/journald.conf.d/pingan-volatile.conf" <<'CONF'
# Logs in RAM only: the SD card is written by the outbox, nothing else.
[Journal]
Storage=volatile
RuntimeMaxUse=16M
CONF
# A hardware watchdog (the Pi's bcm2835_wdt; i6300esb in the VM tests) resets a board
# whose kernel or systemd hangs; a hung boot of a new slot then costs it one of its tries.
install -D -m 0644 /dev/stdin "$root/etc/systemd/system.conf.d/pingan-watchdog.conf" <<'CONF'
[Manager]
RuntimeWatchdogSec=30
RebootWatchdogSec=2min
CONF
# Emergency mode (a partition that cannot be mounted or checked) waits for a root login
# that a hub in a flat never gets, while the watchdog keeps being fed: reboot instead,
# after 2 minutes. Three such boots of a new slot and GRUB goes back to the old one.
for unit in emergency rescue; do
  install -D -m 0644 /dev/stdin "$root/etc/systemd/system/$unit.service.d/pingan-reboot.conf" <<'CONF'
[Service]
ExecStart=
ExecStart=/bin/sh -c 'echo "pingan-hub: emergency mode; rebooting in 120 s" >/dev/console; sleep 120; systemctl --force reboot'
CONF
done
install -D -m 0644 /dev/stdin "$root/etc/systemd/network/50-dhcp.network" <<'CONF'
[Match]
Name=eth0 wlan0 en*

[Network]
DHCP=yes
CONF
: >"$root/etc/machine-id"  # systemd makes one in RAM at each boot
echo pingan-hub >"$root/etc/hostname"
ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
# Nothing on a read-only root may want to write it on a timer.
for timer in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  rm -f "$root/etc/systemd/system/timers.target.wants/$timer"
done
inroot systemctl enable pingan-hub.service pingan-grow-data.service pingan-update.path \
  pingan-health.service pingan-console.service systemd-networkd.service \
  systemd-resolved.service systemd-timesyncd.service >/dev/null 2>&1
# The maintenance shell owns hvc0 when asked for; no login prompt there otherwise.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@hvc0.service"

# -- software updates: rauc, two root slots, this project's boot-slot backend ------------
install -D -m 0755 "$here/boot/boot-slots" "$root/usr/lib/pingan-hub/boot-slots"
install -D -m 0644 "$cert" "$root/etc/rauc/keyring.pem"
# A bundle is for one architecture: make-bundle.sh and the hub read this name from here.
cat >"$root/etc/rauc/system.conf" <<CONF
# Two root slots; the firmware partition and the data partition are not updated.
[system]
compatible=pingan-hub-$arch
bootloader=custom
statusfile=/var/lib/pingan-hub/rauc.status
max-bundle-download-size=1073741824

[handlers]
bootloader-custom-backend=/usr/lib/pingan-hub/boot-slots

[keyring]
path=/etc/rauc/keyring.pem

[slot.rootfs.0]
device=/dev/disk/by-partuuid/${DISK_ID#0x}-02
type=ext4
bootname=A
resize=true

[slot.rootfs.1]
device=/dev/disk/by-partuuid/${DISK_ID#0x}-03
type=ext4
bootname=B
resize=true
CONF

# -- kernel and the firmware partition's files ----------------------------------------------
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -1)
kver=${kernel#vmlinuz-}
ln -sf "$kernel" "$root/boot/vmlinuz"
ln -sf "initrd.img-$kver" "$root/boot/initrd.img"
fw=$root/boot/firmware
mkdir -p "$fw/EFI/BOOT" "$fw/EFI/pingan"
if [ "$arch" = arm64 ]; then
  # The Pi's boot files: firmware blobs (raspi-firmware), device trees, U-Boot.
  cp -a "$root"/usr/lib/raspi-firmware/* "$fw/"
  mkdir -p "$fw/overlays"
  cp -a "$root/usr/lib/linux-image-$kver/broadcom/"bcm27*-rpi-*.dtb "$root/usr/lib/linux-image-$kver/broadcom/"bcm2837-rpi-*.dtb "$fw/" 2>/dev/null || true
  cp "$root/usr/lib/u-boot/rpi_arm64/u-boot.bin" "$fw/u-boot.bin"
  install -m 0644 "$here/boot/config.txt" "$fw/config.txt"
  rm -f "$fw/cmdline.txt" "$fw/vmlinuz"* "$fw/initrd.img"*  # GRUB starts the slot's kernel
  grub_target=arm64-efi grub_file=BOOTAA64.EFI
else
  # A PC's (or x86-64 VM's) UEFI firmware starts GRUB directly.
  grub_target=x86_64-efi grub_file=BOOTX64.EFI
fi
# GRUB for EFI with its modules built in; its prefix is the partition it came from.
inroot grub-mkimage -O "$grub_target" -o "/boot/firmware/EFI/BOOT/$grub_file" -p /EFI/pingan \
  part_msdos fat ext2 normal configfile linux loadenv test echo regexp sleep reboot \
  halt true search search_label cat
install -m 0644 "$here/boot/grub.cfg" "$fw/EFI/pingan/grub.cfg"
# A fresh card starts slot A with its three tries; slot B is empty until the first update.
printf '# GRUB Environment Block\nORDER=A B\nA_LEFT=3\nB_LEFT=0\n' >"$fw/EFI/pingan/grubenv"
head -c $((1024 - $(stat -c %s "$fw/EFI/pingan/grubenv"))) /dev/zero | tr '\0' '#' \
  >>"$fw/EFI/pingan/grubenv"
echo "root ready: kernel $kver, hub $(inroot /usr/bin/pingan-hub --version)"
