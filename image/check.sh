#!/usr/bin/env bash
# Proves the wheel runs on the Pi's userland, here, without a Pi:
#   1. build pingan-hub's wheel;
#   2. debootstrap a Debian bookworm arm64 root into image/build/root (minbase + python3),
#      from the Debian mirror this machine's apt already uses;
#   3. install the wheel (with the `pi` and `voice` extras, as the image does) into
#      /opt/pingan-hub inside that root, under qemu-user;
#   4. run `pingan-hub --version`, `pingan-hub config check config.example.toml`, load
#      the keyword spotter's models there and score a second of audio with the classifier.
# Slow (tens of minutes under emulation); run by hand, never by ./dev test. Needs root,
# debootstrap, qemu-user-static and binfmt-support (apt-get install them). image/build.sh builds the whole image.
#
# With binfmt_misc available, arm64 programs run transparently (chroot). Without it
# (some containers cannot register binfmt), the root is only unpacked (debootstrap
# --foreign) and python is started as `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3`:
# the same arm64 interpreter and libraries, but no maintainer scripts ran in the root.
#
#   image/check.sh              build (or reuse) the root and check
#   image/check.sh --fresh      throw the root away first
#   image/check.sh --no-binfmt  the fallback path even where binfmt_misc works
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
build=$project/image/build
root=$build/root
suite=bookworm
started=$(date +%s)

step() { printf '[check %4ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }

force_fallback=no
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=yes ;;
    --no-binfmt) force_fallback=yes; root=$build/root-foreign ;;
    *) echo "usage: image/check.sh [--fresh] [--no-binfmt]" >&2; exit 2 ;;
  esac
done
if [ "${fresh:-no}" = yes ]; then
  step "removing the old root"
  rm -rf "$root"
fi
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 1; }
for tool in debootstrap qemu-aarch64-static; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install debootstrap qemu-user-static binfmt-support" >&2
    exit 1
  }
done

# The mirror apt already uses here (deb822 or one-line sources), else Debian's default.
mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+/debian/?( |$)' \
  /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
  | head -1 | sed -E 's/^(URIs:|deb) *//; s/ *$//') || true
mirror=${mirror:-http://deb.debian.org/debian}

# binfmt_misc: mount it if the kernel has it but it is not mounted, then enable qemu.
binfmt=no
if [ -d /proc/sys/fs/binfmt_misc ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] \
    || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  command -v update-binfmts >/dev/null && update-binfmts --enable qemu-aarch64 2>/dev/null || true
  grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 && binfmt=yes
fi
[ "$force_fallback" = yes ] && binfmt=no
step "mirror $mirror; binfmt_misc for arm64: $binfmt"

python=$project/.venv/bin/python  # has PyYAML (the test extra)
[ -x "$python" ] || python=python3
step "building the wheel"
rm -rf "$build/dist"
mkdir -p "$build/dist"
"$python" -m pip wheel -q --no-deps --disable-pip-version-check -w "$build/dist" . >/dev/null
wheel=$(ls "$build"/dist/pingan_hub-*.whl)
step "wheel: $(basename "$wheel")"

if [ ! -x "$root/usr/bin/python3" ]; then
  rm -rf "$root"
  mkdir -p "$root"
  include=python3,python3-venv,python3-pip,ca-certificates
  if [ "$binfmt" = yes ]; then
    step "debootstrap $suite arm64 (minbase + python3) into $root"
    debootstrap --arch=arm64 --variant=minbase --include="$include" "$suite" "$root" "$mirror" \
      >"$build/debootstrap.log" 2>&1 || { tail -20 "$build/debootstrap.log"; exit 1; }
  else
    step "debootstrap --foreign (unpack only: no binfmt) $suite arm64 into $root"
    debootstrap --foreign --arch=arm64 --variant=minbase --include="$include" \
      "$suite" "$root" "$mirror" >"$build/debootstrap.log" 2>&1 \
      || { tail -20 "$build/debootstrap.log"; exit 1; }
    # --foreign leaves the packages as .debs for the second stage: unpack them.
    for deb in "$root"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$root"; done
  fi
  step "root ready ($(du -sh "$root" | cut -f1))"
else
  step "reusing the root in $root (--fresh to rebuild)"
fi

cp "$wheel" "$root/tmp/"
# pip inside the root trusts what this machine trusts (a build network may inspect TLS
# with its own CA); the image itself keeps Debian's ca-certificates.
cp /etc/ssl/certs/ca-certificates.crt "$root/tmp/build-ca.crt"
export PIP_CERT=/tmp/build-ca.crt
cp config.example.toml "$root/tmp/config.example.toml"
whl=/tmp/$(basename "$wheel")

# Run an arm64 command inside the root.
if [ "$binfmt" = yes ]; then
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  inroot() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      PIP_CERT="$PIP_CERT" "$@"
  }
else
  inroot() {
    local prog=$1
    shift
    QEMU_LD_PREFIX=$root qemu-aarch64-static -L "$root" "$root$prog" "$@"
  }
fi

step "arm64 python in the root: $(inroot /usr/bin/python3 -c 'import platform,sys; print(platform.machine(), sys.version.split()[0])')"
step "installing the wheel into /opt/pingan-hub (pip under qemu: slow)"
if [ "$binfmt" = yes ]; then
  inroot /usr/bin/python3 -m venv /opt/pingan-hub
  inroot /opt/pingan-hub/bin/python -m pip install -q --disable-pip-version-check \
    --prefer-binary "$whl[pi,voice]" >"$build/pip.log" 2>&1 || { tail -30 "$build/pip.log"; exit 1; }
  hub() { inroot /opt/pingan-hub/bin/pingan-hub "$@"; }
  hubpy() { inroot /opt/pingan-hub/bin/python "$@"; }
else
  # No chroot: install into a target directory inside the root, run with PYTHONPATH.
  # Wheels only: building an sdist would start the arm64 python as a subprocess, which
  # needs binfmt_misc. Pure-Python sdists (docopt, for rflink) are built into wheels by
  # this machine's python first; its x86-64 wheels in that folder are simply not used.
  "$python" -m pip wheel -q --disable-pip-version-check --prefer-binary \
    -w "$build/host-wheels" "$wheel[pi,voice]" >"$build/host-pip.log" 2>&1 || true
  PIP_CERT=$root/tmp/build-ca.crt inroot /usr/bin/python3 -m pip install -q \
    --disable-pip-version-check --only-binary=:all: --find-links "$build/host-wheels" \
    --target "$root/opt/pingan-hub/lib" "$wheel[pi,voice]" >"$build/pip.log" 2>&1 \
    || { tail -30 "$build/pip.log"; exit 1; }
  hub() { PYTHONPATH=$root/opt/pingan-hub/lib inroot /usr/bin/python3 -m hub "$@"; }
  hubpy() { PYTHONPATH=$root/opt/pingan-hub/lib inroot /usr/bin/python3 "$@"; }
fi
step "installed"

version=$(hub --version)
step "pingan-hub --version (arm64): $version"
step "pingan-hub config check config.example.toml (arm64):"
if [ "$binfmt" = yes ]; then
  hub config check /tmp/config.example.toml
else
  hub config check "$root/tmp/config.example.toml"
fi
step "the keyword spotter loads (pocketsphinx en-us + the onnxruntime help classifier) and scores 1 s (arm64):"
hubpy -c 'from hub.voice.spotter import PocketsphinxSpotter as S; s = S(); print("  spotter ready, score of silence %.3f" % s.classifier.score(bytes(32000)))'
step "arm64 check passed in $(( $(date +%s) - started )) s"
