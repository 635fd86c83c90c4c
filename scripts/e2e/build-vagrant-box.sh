#!/usr/bin/env bash
# Builds the Vagrant box (libvirt provider) that dist/vm/Vagrantfile boots by default, from the e2e
# guest (scripts/e2e/build-guest.sh: Debian bookworm with cloud-init reading NoCloud, nothing of a
# node's prerequisites). A libvirt box is a tar of box.img (qcow2), metadata.json and a Vagrantfile.
#
# What the box adds to the guest, each for Vagrant itself, never for the node:
# - the user vagrant with Vagrant's well-known insecure key and sudo, as every public box has
#   (Vagrant swaps the key for a new one at the first `vagrant up`);
# - qemu-guest-agent: the site's NICs take static addresses from the seed's network-config, so
#   libvirt has no DHCP lease to tell Vagrant the address; vagrant-libvirt asks the agent instead.
# The guest disk is a bare ext4 file system booted by a kernel given to QEMU (no boot loader): the
# box carries vmlinuz and initrd.img, and its Vagrantfile points libvirt at them. Extra kernel
# arguments come from KUBESEED_KERNEL_ARGS (the site's Vagrantfile sets them, e.g. cgroup v1).
#
# Output: $KUBESEED_FIXTURES (default /var/cache/kubeseed)/vagrant-box/kubeseed-debian12.box,
# cached by RECIPE and the guest's own recipe. Needs root (a loop mount and a chroot).
#   vagrant box add --name kubeseed/debian12 <that file>
set -euo pipefail

FIXTURES="${KUBESEED_FIXTURES:-/var/cache/kubeseed}"
GUEST="$FIXTURES/guest-bookworm"
OUT="$FIXTURES/vagrant-box"
BOX="$OUT/kubeseed-debian12.box"
RECIPE="vagrant-box-r1+$(cat "$GUEST/.recipe" 2>/dev/null || echo none)"
MIRROR="${KUBESEED_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ -f "$OUT/.recipe" ] && [ "$(cat "$OUT/.recipe")" = "$RECIPE" ] && [ -f "$BOX" ]; then
  echo "build-vagrant-box: cached at $BOX"
  exit 0
fi
[ -f "$GUEST/disk.img" ] || bash "$(dirname "$0")/build-guest.sh"
RECIPE="vagrant-box-r1+$(cat "$GUEST/.recipe")"
if [ "$(id -u)" -ne 0 ]; then
  echo "build-vagrant-box: needs root (loop mount, chroot)" >&2
  exit 1
fi
INSECURE_KEY=$({ find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant -path '*/keys/vagrant.pub' 2>/dev/null || true; } | head -n 1)
[ -n "$INSECURE_KEY" ] || {
  echo "build-vagrant-box: Vagrant's insecure public key (keys/vagrant.pub) not found: run scripts/e2e/setup-vagrant.sh" >&2
  exit 1
}

WORK="$FIXTURES/vagrant-box-work"
MNT="$WORK/mnt"
cleanup() {
  umount "$MNT/proc" 2>/dev/null || true
  umount "$MNT" 2>/dev/null || true
}
trap cleanup EXIT
rm -rf "$WORK" && mkdir -p "$MNT"
cp --sparse=always "$GUEST/disk.img" "$WORK/root.img"
mount -o loop "$WORK/root.img" "$MNT"
mount -t proc proc "$MNT/proc"
cp /etc/resolv.conf "$MNT/etc/resolv.conf"
echo "deb $MIRROR bookworm main" > "$MNT/etc/apt/sources.list"
chroot "$MNT" apt-get update -qq
DEBIAN_FRONTEND=noninteractive chroot "$MNT" apt-get install -y -qq --no-install-recommends qemu-guest-agent >/dev/null
chroot "$MNT" apt-get clean
rm -rf "$MNT"/var/lib/apt/lists/* && mkdir -p "$MNT/var/lib/apt/lists/partial"
: > "$MNT/etc/resolv.conf"
# Same rule as the guest: the box must not carry a node prerequisite that first boot should install.
leaked=$(chroot "$MNT" dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' iptables nftables conntrack ipset ipvsadm socat ebtables ethtool \
  nginx-light nginx-core libnginx-mod-stream haproxy keepalived chrony 2>/dev/null | sed -n 's/^ii *//p' || true)
if [ -n "$leaked" ]; then
  echo "build-vagrant-box: the box would carry node prerequisites: $leaked" >&2
  exit 1
fi
chroot "$MNT" useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 -o 0 -g 0 "$MNT/home/vagrant/.ssh"
install -m 0600 "$INSECURE_KEY" "$MNT/home/vagrant/.ssh/authorized_keys"
chroot "$MNT" chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$MNT/etc/sudoers.d/vagrant"
chmod 0440 "$MNT/etc/sudoers.d/vagrant"
umount "$MNT/proc"
umount "$MNT"
trap - EXIT

mkdir -p "$WORK/box"
qemu-img convert -q -f raw -O qcow2 "$WORK/root.img" "$WORK/box/box.img"
cp "$GUEST/vmlinuz" "$GUEST/initrd.img" "$WORK/box/"
size_gb=$(($(stat -c %s "$WORK/root.img") / 1024 / 1024 / 1024))
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$size_gb" > "$WORK/box/metadata.json"
cat > "$WORK/box/Vagrantfile" <<'EOF'
# The kubeseed box: Debian bookworm with cloud-init (NoCloud), booted by the kernel beside this file.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd.img")
    lv.cmd_line = ["root=/dev/vda rw console=ttyS0", ENV["KUBESEED_KERNEL_ARGS"]].compact.join(" ").strip
    lv.disk_bus = "virtio"
    # Static addresses from the seed leave no DHCP lease: Vagrant learns each VM's address from the agent.
    lv.qemu_use_agent = true
  end
end
EOF
rm -f "$WORK/root.img"
mkdir -p "$WORK/out"
tar -C "$WORK/box" -cf "$WORK/out/$(basename "$BOX")" metadata.json Vagrantfile box.img vmlinuz initrd.img
echo "$RECIPE" > "$WORK/out/.recipe"
rm -rf "$OUT" && mv "$WORK/out" "$OUT"
rm -rf "$WORK"
echo "build-vagrant-box: built $BOX"
