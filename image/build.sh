#!/usr/bin/env bash
# Build the hub's SD-card image here, with no device-mapper, kpartx or loop mounts:
# mmdebstrap makes the Debian bookworm arm64 root as a plain directory (arm64 maintainer
# scripts run under qemu-user through binfmt_misc), every filesystem is made from a
# directory (mkfs.ext4 -d, mkfs.vfat + mcopy) and sfdisk + dd lay them into one file.
#
#   image/build.sh [--config FILE] [--version V] [--update-cert PEM] [--out DIR]
#                  [--mirror URL] [--allow-mock] [--reuse-root] [--arch arm64|amd64]
#
#   --arch A           arm64 (default): the Pi image. amd64: the same recipe (units, hub,
#                      read-only A/B roots, data partition, GRUB slot choice) for an x86-64
#                      PC/VM, built natively and booted under KVM by the long VM tests
#                      (image/README.md: what it does and does not stand for)
#   --config FILE      the hub's config.toml for this batch (default config.example.toml)
#   --version V        the image's version, shown by the hub and compared by updates
#                      (default: the project's version + commit count, e.g. 0.1.0+412)
#   --update-cert PEM  the certificate whose key signs update bundles (rauc keyring); the
#                      admin machine keeps the key (image/update-keys.sh makes a pair).
#                      Default: a development pair made in DIR/keys (never ship those)
#   --out DIR          where everything goes (default image/build)
#   --mirror URL       Debian mirror; a snapshot.debian.org URL pins every package
#   --allow-mock       accept gpio.pin_factory = "mock" (VM tests only: no GPIO there)
#   --reuse-root       keep DIR/root from an earlier run (only the hub and config change)
#
# Outputs in DIR: pingan-hub.img (MBR: firmware | root A | root B | data), rootfs.ext4
# (the root filesystem alone: the VM tests and the update bundles use it), manifest.txt
# (inputs: commit, SOURCE_DATE_EPOCH, every Debian package and Python wheel version).
# Needs root (file ownership inside the root), mmdebstrap, qemu-user-static,
# binfmt-support, e2fsprogs, dosfstools, mtools, fdisk, python3:
#   apt-get install mmdebstrap qemu-user-static binfmt-support e2fsprogs dosfstools mtools fdisk
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
started=$(date +%s)
step() { printf '[build %4ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }

config=$project/config.example.toml
out=$here/build
version=""
cert=""
mirror=""
allow_mock=no
reuse_root=no
arch=arm64
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$(realpath "$2"); shift 2 ;;
    --version) version=$2; shift 2 ;;
    --update-cert) cert=$(realpath "$2"); shift 2 ;;
    --out) mkdir -p "$2"; out=$(realpath "$2"); shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --allow-mock) allow_mock=yes; shift ;;
    --reuse-root) reuse_root=yes; shift ;;
    --arch) arch=$2; shift 2 ;;
    *) sed -n '2,30p' "$0" >&2; exit 2 ;;
  esac
done
case "$arch" in arm64|amd64) ;; *) echo "--arch: arm64 or amd64" >&2; exit 2 ;; esac
# Programs of a foreign architecture run under qemu-user (binfmt_misc).
qemu_user=""
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  case "$arch" in arm64) qemu_user=qemu-aarch64 ;; amd64) qemu_user=qemu-x86_64 ;; esac
fi
[ "$(id -u)" = 0 ] || { echo "run as root: files in the root belong to root and the hub's user" >&2; exit 1; }
for tool in mmdebstrap mkfs.ext4 mkfs.vfat mcopy sfdisk ${qemu_user:+$qemu_user-static}; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install mmdebstrap qemu-user-static binfmt-support e2fsprogs dosfstools mtools fdisk" >&2
    exit 1
  }
done

# shellcheck source=layout.sh
. "$here/layout.sh"
root=$out/root
mkdir -p "$out"
cd "$project"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -z "$version" ]; then
  base=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' hub/__init__.py)
  version="$base+$(git rev-list --count HEAD 2>/dev/null || echo 0)"
fi
case "$version" in *[!A-Za-z0-9.+~_-]*|"") echo "--version: letters, digits and . + ~ _ - only" >&2; exit 2 ;; esac

# The mirror apt already uses here, else Debian's.
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | head -1 | sed -E 's/^(URIs:|deb) *//; s/ *$//') || true
  mirror=${mirror:-http://deb.debian.org/debian}
fi

# Foreign programs (maintainer scripts, pip) run under qemu-user through binfmt_misc.
if [ -n "$qemu_user" ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  command -v update-binfmts >/dev/null && update-binfmts --enable "$qemu_user" 2>/dev/null || true
  grep -qs '^enabled' "/proc/sys/fs/binfmt_misc/$qemu_user" \
    || { echo "binfmt_misc has no $qemu_user entry: apt-get install qemu-user-static binfmt-support" >&2; exit 1; }
fi

step "checking the batch config $config"
python=$project/.venv/bin/python
[ -x "$python" ] || python=python3
"$python" - "$config" "$allow_mock" <<'PY'
import sys, tomllib
cfg = tomllib.load(open(sys.argv[1], "rb"))
if cfg.get("gpio", {}).get("pin_factory", "lgpio") == "mock" and sys.argv[2] != "yes":
    sys.exit(f"{sys.argv[1]}: gpio.pin_factory must not be mock on a real hub")
PY

# Update signing: the hub trusts bundles signed by the key of this certificate.
if [ -z "$cert" ]; then
  if [ ! -f "$out/keys/update.cert.pem" ]; then
    step "no --update-cert: making a DEVELOPMENT update key pair in $out/keys"
    "$here/update-keys.sh" "$out/keys" >/dev/null
  fi
  cert=$out/keys/update.cert.pem
fi

step "building the wheel"
rm -rf "$out/dist"
"$python" -m pip wheel -q --no-deps --disable-pip-version-check -w "$out/dist" . >/dev/null
wheel=$(ls "$out"/dist/pingan_hub-*.whl)

# Debian packages in the root. The Pi boots its firmware -> U-Boot -> GRUB (EFI) -> the
# kernel of the chosen slot; a VM's UEFI firmware starts the same GRUB (image/README.md).
packages=(
  systemd systemd-sysv udev dbus kmod iproute2 netbase ca-certificates initramfs-tools
  firmware-brcm80211 bluez bluez-firmware wpasupplicant iw
  systemd-timesyncd systemd-resolved cloud-guest-utils fdisk e2fsprogs dosfstools
  python3 python3-venv espeak-ng alsa-utils rauc rauc-service
)
case "$arch" in
  arm64) packages+=(linux-image-arm64 raspi-firmware u-boot-rpi grub-efi-arm64-bin) ;;
  amd64) packages+=(linux-image-amd64 grub-efi-amd64-bin) ;;
esac

if [ "$reuse_root" = yes ] && [ -x "$root/usr/bin/python3" ]; then
  step "reusing the Debian root in $root"
else
  step "mmdebstrap bookworm $arch from $mirror (${#packages[@]} packages${qemu_user:+; slow under qemu-user})"
  rm -rf "$root"
  security=$(echo "$mirror" | sed -E 's#/debian/?$#/debian-security#')
  # Kernel hooks write the Pi's firmware files into /boot/firmware: it must exist first.
  # The initramfs is made once at the end instead of after every package that triggers it
  # (each run takes minutes under qemu-user). No manual pages, translations or docs
  # except the copyright files.
  mmdebstrap --mode=root --variant=minbase --arch="$arch" \
    --components=main,non-free-firmware \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt=force-confdef --dpkgopt=force-confold \
    --setup-hook='mkdir -p "$1/boot/firmware" "$1/etc/initramfs-tools"' \
    --setup-hook='printf "update_initramfs=no\n" > "$1/etc/initramfs-tools/update-initramfs.conf"' \
    --customize-hook='sed -i "s/^update_initramfs=no/update_initramfs=yes/" "$1/etc/initramfs-tools/update-initramfs.conf"' \
    --customize-hook='chroot "$1" update-initramfs -u -k all' \
    --customize-hook='chroot "$1" apt-get clean' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
    bookworm "$root" \
    "deb $mirror bookworm main non-free-firmware" \
    "deb $mirror bookworm-updates main non-free-firmware" \
    "deb $security bookworm-security main non-free-firmware" \
    >"$out/mmdebstrap.log" 2>&1 || { tail -30 "$out/mmdebstrap.log"; exit 1; }
  step "Debian root ready ($(du -sh "$root" | cut -f1))"
fi

step "installing pingan-hub $version (wheel + pi,voice extras)${qemu_user:+ under qemu-user}"
cp "$wheel" "$root/tmp/"
# pip inside the root trusts what this machine trusts (a build network may inspect TLS
# with its own CA); the image itself keeps Debian's ca-certificates.
cp /etc/ssl/certs/ca-certificates.crt "$root/tmp/build-ca.crt"
# pip reaches PyPI with this machine's resolver (the root's own is systemd-resolved's
# stub, linked again below).
rm -f "$root/etc/resolv.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Fresh proc and sysfs and a non-recursive, private bind of /dev: unmounting them can
# never reach the host's own mounts (an rbind shares their propagation).
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/sys" || mount -t sysfs sysfs "$root/sys"
mountpoint -q "$root/dev" || { mount --bind /dev "$root/dev" && mount --make-private "$root/dev"; }
cleanup_mounts() {
  for fs in dev sys proc; do
    if mountpoint -q "$root/$fs"; then umount "$root/$fs" || true; fi
  done
}
trap cleanup_mounts EXIT
# --no-compile: bytecode is compiled below by this machine's python 3.11 (same bytecode
# as the root's 3.11, without emulation), unchecked-hash so the read-only root never needs
# a rewrite.
# A reused root gets the packages added to the list since it was made.
missing=()
for pkg in "${packages[@]}"; do
  chroot "$root" dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "adding ${missing[*]} to the reused root"
  chroot "$root" apt-get update -qq >"$out/apt.log" 2>&1
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    >>"$out/apt.log" 2>&1 || { tail -20 "$out/apt.log"; exit 1; }
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/*
fi
# The venv: pip from python3-venv, so its version is Debian's.
[ -x "$root/opt/pingan-hub/bin/pip" ] || chroot "$root" python3 -m venv /opt/pingan-hub
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  PIP_CERT=/tmp/build-ca.crt /opt/pingan-hub/bin/pip install -q --no-compile \
  --disable-pip-version-check --no-cache-dir --prefer-binary --upgrade \
  "/tmp/$(basename "$wheel")[pi,voice]" >"$out/pip.log" 2>&1 \
  || { tail -30 "$out/pip.log"; exit 1; }
# The project itself always from this build's wheel, even when a wheel of the same
# version is installed already (a reused root).
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  /opt/pingan-hub/bin/pip install -q --no-compile --disable-pip-version-check --no-cache-dir \
  --force-reinstall --no-deps "/tmp/$(basename "$wheel")" >>"$out/pip.log" 2>&1 \
  || { tail -30 "$out/pip.log"; exit 1; }
chroot "$root" /opt/pingan-hub/bin/pip freeze --all >"$out/wheels.txt"
cleanup_mounts
trap - EXIT
rm -f "$root/tmp/"*.whl "$root/tmp/build-ca.crt" "$root/etc/resolv.conf"
ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
pyver=$(ls "$root/opt/pingan-hub/lib")
/usr/bin/python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "the host python must be 3.11 like the image's to compile its bytecode" >&2; exit 1; }
/usr/bin/python3 -m compileall -q -j0 --invalidation-mode unchecked-hash \
  -s "$root" -p / "$root/opt/pingan-hub/lib/$pyver/site-packages" >/dev/null || true
ln -sf /opt/pingan-hub/bin/pingan-hub "$root/usr/bin/pingan-hub"

step "files, units, users and the read-only layout"
"$here/rootfs.sh" "$root" "$config" "$version" "$commit" "$cert" "$arch"

step "manifest"
{
  echo "image $version ($arch), commit $commit, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH"
  echo "mirror $mirror (bookworm, bookworm-updates, bookworm-security)"
  echo "== Debian packages"
  chroot "$root" dpkg-query -W -f '${Package} ${Version} ${Architecture}\n'
  echo "== Python wheels in /opt/pingan-hub"
  cat "$out/wheels.txt"
} >"$out/manifest.txt"
cp "$out/manifest.txt" "$root/usr/share/pingan-hub/manifest.txt"

step "filesystems from directories"
"$here/assemble.sh" "$root" "$out"
size=$(stat -c %s "$out/pingan-hub.img")
used=$(du -k "$out/pingan-hub.img" | cut -f1)
step "image: $out/pingan-hub.img, $((size / 1048576)) MiB ($((used / 1024)) MiB allocated); root filesystem $(( $(stat -c %s "$out/rootfs.ext4") / 1048576 )) MiB; version $version, $arch"
[ "$arch" = arm64 ] || exit 0  # the amd64 variant is for VMs (and PCs), not an SD card
echo "write it with: dd if=$out/pingan-hub.img of=/dev/sdX bs=4M conv=fsync"
