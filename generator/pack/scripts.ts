import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { BOOT_FILES, FILES, NODE_FILES } from '../model/layout.js';
import { shq } from '../render/engine.js';

/** For hosts that already run an OS: lays down what cloud-init would have, then starts first boot. */
export function installScript(site: ResolvedSite, node: ResolvedNode): string {
  return `#!/bin/sh
# Installs node ${node.name} of site ${site.name} on a host that already runs its OS.
# Copy the site's payload tarball to ${FILES.payloadTarball} (or attach the KSPAYLOAD volume)
# before or after running this; first boot waits for neither the network nor other nodes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
sha256sum -c --quiet ${NODE_FILES.selfCheckName}
hostnamectl set-hostname ${shq(node.name)} 2>/dev/null || echo ${shq(node.name)} >/etc/hostname
install -D -m 0644 ${NODE_FILES.listName} ${NODE_FILES.list}
install -D -m 0600 ${NODE_FILES.archive} ${NODE_FILES.copied}
tar -xzf ${NODE_FILES.archive} -C / --no-same-owner ${BOOT_FILES.map((p) => p.slice(1)).join(' ')}
systemctl daemon-reload
systemctl enable kubeseed-firstboot.service
systemctl start --no-block kubeseed-firstboot.service
echo "kubeseed: first boot started; follow it with: journalctl -fu kubeseed-firstboot (or kubeseed-status)"
`;
}

export const VERIFY_SH = `#!/bin/sh
# Checks every file of this bundle against SHA256SUMS (run it on the air-gapped side too).
set -eu
cd "$(dirname "$0")"
sha256sum --strict -c SHA256SUMS
`;

/** A QEMU command line for one node: its seed ISO and the payload volume attached. */
export function qemuScript(node: ResolvedNode, payloadIso: string | null): string {
  const payload = payloadIso ? `  -drive file="$here/../payload/${payloadIso}",if=virtio,format=raw,readonly=on \\\n` : '';
  return `#!/bin/sh
# Boots node ${node.name} in QEMU: DISK=<a bootable cloud image> sh ${node.name}.sh
# KVM is used when present, software emulation otherwise.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "\${DISK:?set DISK to the node's disk image (a cloud image with cloud-init)}"
exec qemu-system-x86_64 -machine q35 -accel kvm -accel tcg -m "\${MEMORY:-4096}" -smp "\${CPUS:-2}" \\
  -drive file="$DISK",if=virtio,format=qcow2 \\
  -drive file="$here/../nodes/${node.name}/seed.iso",if=virtio,format=raw,readonly=on \\
${payload}  -netdev "\${NETDEV:-user,id=n0}" -device virtio-net-pci,netdev=n0${node.mac ? `,mac=${node.mac}` : ''} \\
  -nographic
`;
}

export function vagrantfile(site: ResolvedSite, payloadIso: string | null): string {
  const nodes = site.nodes
    .map(
      (n) => `  config.vm.define ${JSON.stringify(n.name)} do |node|
    node.vm.hostname = ${JSON.stringify(n.name)}
    node.vm.provider :libvirt do |lv|
      lv.memory = 4096
      lv.cpus = 2
      lv.storage :file, :device => :cdrom, :path => File.expand_path("../nodes/${n.name}/seed.iso", __dir__)
${payloadIso ? `      lv.storage :file, :device => :cdrom, :path => File.expand_path("../payload/${payloadIso}", __dir__)\n` : ''}    end
  end`,
    )
    .join('\n');
  return `# Vagrant (libvirt provider) for site ${site.name}: each VM boots with its NoCloud seed and the payload attached.
Vagrant.configure("2") do |config|
  config.vm.box = ENV.fetch("KUBESEED_BOX", "debian/bookworm64")
  config.vm.synced_folder ".", "/vagrant", disabled: true
${nodes}
end
`;
}
