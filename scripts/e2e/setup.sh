#!/usr/bin/env bash
# What the end-to-end boot needs beyond scripts/setup-test-tools.sh: QEMU, debootstrap, and the
# Debian packages whose binaries become the e2e payload. Run as root.
set -euo pipefail
bash "$(dirname "$0")/../setup-test-tools.sh"
PACKAGES=(qemu-system-x86 qemu-utils debootstrap e2fsprogs containernetworking-plugins runc busybox-static iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "e2e setup: ${#PACKAGES[@]} packages present"
