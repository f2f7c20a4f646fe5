#!/usr/bin/env bash
# The long checks of the image, outside ./dev test and CI's time budget, one after the
# other, each timed (figures and durations in bench/README.md):
#   1. build the VM variant of the image from this checkout (image/vm/build-vm.sh)
#   2. boot test: SOS from inside the VM acknowledged at the host's broker
#   3. VM power cuts (default 100): a full boot after each (bench/vm_power_cut.py), then the
#      same number of cuts of a running hub resumed from a saved machine (vm_resume_cut.py)
#   4. A/B update round trip: N -> N+1 -> N, a bad bundle rolled back, forged/unsigned
#      bundles and a stranger's command refused
#
#   sudo image/long-checks.sh [--arch arm64|amd64] [--out DIR] [--cuts N] [--skip-build]
#                             [--only build|boot|cuts|update]
# --arch amd64 builds the x86-64 variant of the same recipe (default out image/build-amd64),
# whose VM runs on KVM: a boot takes seconds instead of minutes (image/README.md).
# Runs as root (the build sets file ownership in the root); everything goes under nice.
set -euo pipefail
cd "$(dirname "$0")/.."
out="" arch=arm64 cuts=100 skip_build=no only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --cuts) cuts=$2; shift 2 ;;
    --skip-build) skip_build=yes; shift ;;
    --only) only=$2; shift 2 ;;
    *) sed -n '2,15p' "$0" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  if [ "$arch" = arm64 ]; then out=image/build; else out=image/build-$arch; fi
fi
[ -x .venv/bin/python ] || ./dev test --co -q >/dev/null
timed() {
  local name=$1; shift
  local t0=$(date +%s)
  echo "== $name: $*"
  if nice -n 10 "$@"; then status=ok; else status=FAILED; fi
  echo "== $name: $status in $(( $(date +%s) - t0 )) s"
  [ "$status" = ok ]
}
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
if want build && [ "$skip_build" = no ]; then timed build image/vm/build-vm.sh "$out" --arch "$arch"; fi
want boot && timed boot-test .venv/bin/python -m bench.vm_boot_test --image "$out/pingan-hub.img"
want cuts && timed power-cuts .venv/bin/python -m bench.vm_power_cut --cuts "$cuts" --image "$out/pingan-hub.img"
want cuts && timed resumed-cuts .venv/bin/python -m bench.vm_resume_cut --cuts "$cuts" --image "$out/pingan-hub.img"
want update && timed update .venv/bin/python -m bench.vm_update --build "$out"
echo "== all long checks passed"
