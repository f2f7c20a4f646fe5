#!/usr/bin/env bash
# Boot the image built by build.sh under qemu-system-aarch64 (-M virt, TCG, UEFI -> the
# image's GRUB -> slot A), with user-mode networking restricted to forwards onto this
# machine's loopback; check that systemd starts pingan-hub (Type=notify, watchdog), that
# an SOS pressed inside the VM reaches a mosquitto here and the simulated centre's
# acknowledgement comes back; print boot time, hub start time and RSS inside the VM.
#
#   image/boot-test.sh [--image FILE]     (default image/build/pingan-hub.img)
#
# The image must be built with a config whose broker is the VM's forward and whose pins
# are simulated (a VM has no GPIO): image/vm/build-vm.sh does that. Needs
# qemu-system-arm, qemu-efi-aarch64, mtools, socat and mosquitto
# (apt-get install qemu-system-arm qemu-efi-aarch64 mtools socat mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || { echo "run ./dev test --co -q once to make .venv" >&2; exit 1; }
for tool in qemu-system-aarch64 mcopy socat; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install qemu-system-arm qemu-efi-aarch64 mtools socat" >&2; exit 1; }
done
exec "$python" -m bench.vm_boot_test "$@"
