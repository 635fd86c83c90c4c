#!/usr/bin/env bash
# What `npm run test:e2e:vagrant` needs beyond scripts/e2e/setup.sh: Vagrant with the libvirt
# provider, a running libvirtd, and setfacl (the test lets libvirt's QEMU user into the bundle's
# directories, as dist/vm/Vagrantfile tells a user to). Run as root. Safe to run twice.
#
# Where PID 1 is not systemd (containers, CI runners), nothing starts the daemons the packages
# install: this starts virtlogd and libvirtd by hand, each only when its socket does not answer.
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
PACKAGES=(vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils acl)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-vagrant: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
  systemctl start virtlogd.socket libvirtd.socket libvirtd.service
else
  # What systemd-tmpfiles would make: libvirt writes each network's MAC list there even without dnsmasq.
  mkdir -p /run/libvirt /var/lib/libvirt/dnsmasq
  # Without systemd we are most likely in a container, where libvirt cannot give each QEMU its own
  # /dev in a private mount namespace ("Unable to move /run/libvirt/qemu/<id>-<name>.full mount to
  # /dev/full: Invalid argument" at every domain start): QEMU then sees the host's /dev, as
  # qemu.conf's namespaces = [] says. A running libvirtd reads the change only when restarted.
  if ! grep -q '^namespaces *=' /etc/libvirt/qemu.conf; then
    echo 'namespaces = []' >>/etc/libvirt/qemu.conf
    if [ -f /run/libvirtd.pid ] && kill "$(cat /run/libvirtd.pid)" 2>/dev/null; then
      for _ in $(seq 1 30); do [ -f /run/libvirtd.pid ] || break; sleep 1; done
    fi
  fi
  # At the default priority whatever the caller's: every VM libvirtd starts inherits it.
  if ! pgrep -x virtlogd >/dev/null; then (renice -n 0 -p "$BASHPID" >/dev/null && exec virtlogd --daemon); fi
  if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    # A daemon left over from a killed run holds its pid file; one that answers is reused above.
    rm -f /run/libvirtd.pid
    (renice -n 0 -p "$BASHPID" >/dev/null && exec libvirtd --daemon)
  fi
fi
for _ in $(seq 1 30); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 1
done
virsh -c qemu:///system version >/dev/null || {
  echo "setup-vagrant: libvirtd does not answer on qemu:///system" >&2
  exit 1
}
echo "setup-vagrant: ${#PACKAGES[@]} packages present, libvirtd answers ($(vagrant --version), vagrant-libvirt $(dpkg-query -W -f='${Version}' vagrant-libvirt))"
