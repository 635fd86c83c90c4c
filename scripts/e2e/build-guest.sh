#!/usr/bin/env bash
# Builds the Debian bookworm guest the end-to-end boots use (DESIGN.md section 7), as close to a
# stock cloud image as a node may assume (DESIGN.md section 10): debootstrap minbase with systemd,
# udev, dbus, a kernel, iproute2 and ifupdown, cloud-init installed in the chroot, and only what the
# harness itself needs to look inside a node (sshd, sudo). None of the node's prerequisites
# (iptables, conntrack, ipset, ipvsadm, socat, nginx, ...): first boot installs those from the
# payload, which is what the boots prove. Then an ext4 disk image made without a loop device. Cached in $KUBESEED_FIXTURES
# (default /var/cache/kubeseed)/guest-bookworm; bump RECIPE when the steps change. Needs root.
set -euo pipefail

FIXTURES="${KUBESEED_FIXTURES:-/var/cache/kubeseed}"
OUT="$FIXTURES/guest-bookworm"
RECIPE=guest-bookworm-r3-stock
MIRROR="${KUBESEED_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ -f "$OUT/.recipe" ] && [ "$(cat "$OUT/.recipe")" = "$RECIPE" ] && [ -f "$OUT/disk.img" ]; then
  echo "build-guest: cached at $OUT"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
command -v mke2fs >/dev/null || apt-get install -y -qq --no-install-recommends e2fsprogs >/dev/null

WORK="$FIXTURES/guest-work"
ROOTFS="$WORK/rootfs"
rm -rf "$WORK" && mkdir -p "$WORK"
INCLUDE=systemd,systemd-sysv,udev,dbus,kmod,iproute2,linux-image-amd64,isc-dhcp-client,ifupdown,openssh-server,sudo
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$ROOTFS" "$MIRROR"

# cloud-init's virtual dependencies defeat debootstrap: install it with apt inside the chroot.
mount -t proc proc "$ROOTFS/proc"
trap 'umount "$ROOTFS/proc" 2>/dev/null || true' EXIT
chroot "$ROOTFS" apt-get install -y -qq --no-install-recommends cloud-init python3-yaml >/dev/null
chroot "$ROOTFS" apt-get clean
umount "$ROOTFS/proc"
trap - EXIT
# Stock means stock: fail if a dependency dragged in one of the node's prerequisites.
leaked=$(chroot "$ROOTFS" dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' iptables nftables conntrack ipset ipvsadm socat ebtables ethtool \
  nginx-light nginx-core libnginx-mod-stream haproxy keepalived chrony 2>/dev/null | sed -n 's/^ii *//p' || true)
if [ -n "$leaked" ]; then
  echo "build-guest: the stock guest would carry node prerequisites: $leaked" >&2
  exit 1
fi
# No package index on the disk: the e2e harness checks that first boot downloaded none.
rm -rf "$ROOTFS"/var/lib/apt/lists/*
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"

# Boot quietly onto the serial console; no root password, no network config but cloud-init's.
echo 'datasource_list: [ NoCloud, None ]' > "$ROOTFS/etc/cloud/cloud.cfg.d/90-kubeseed-e2e.cfg"
printf '/dev/vda / ext4 rw,relatime 0 1\n' > "$ROOTFS/etc/fstab"
echo 'kubeseed-guest' > "$ROOTFS/etc/hostname"
ln -sf /lib/systemd/system/serial-getty@.service "$ROOTFS/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service" 2>/dev/null || true

mkdir -p "$WORK/out"
cp "$(ls "$ROOTFS"/boot/vmlinuz-* | head -1)" "$WORK/out/vmlinuz"
cp "$(ls "$ROOTFS"/boot/initrd.img-* | head -1)" "$WORK/out/initrd.img"
mke2fs -q -t ext4 -L kubeseed-root -d "$ROOTFS" "$WORK/out/disk.img" 3G
echo "$RECIPE" > "$WORK/out/.recipe"
rm -rf "$OUT" && mv "$WORK/out" "$OUT"
rm -rf "$WORK"
echo "build-guest: built into $OUT"
