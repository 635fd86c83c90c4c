import type { Condition, LoadBalancer, OsFamily } from '../model/index.js';

/**
 * The files the render stage writes on a node, as data. The plan lists them; the render stage
 * (per node, pure) must produce exactly these paths, which a test checks once render lands.
 */
export interface RenderedFileSpec {
  path: string;
  mode: string;
  template: string;
  /** etcdUnits: kubeseed runs etcd as units (binary mode, or kubeadm with external etcd). */
  when: Condition & { loadBalancer?: LoadBalancer; bootstrap?: boolean; ntp?: boolean; peers?: boolean; etcdUnits?: boolean; families?: OsFamily[] };
  /** One file per host of spec.containerRuntime.registryMirrors; `{registry}` in the path names it. */
  perRegistryMirror?: boolean;
  secret?: boolean;
}

export const RENDERED_FILES: RenderedFileSpec[] = [
  { path: '/etc/hosts', mode: '0644', template: 'hosts', when: {} },
  { path: '/etc/sysctl.d/90-kubeseed.conf', mode: '0644', template: 'sysctl', when: {} },
  { path: '/etc/modules-load.d/kubeseed.conf', mode: '0644', template: 'modules-load', when: {} },
  // The whole chrony.conf, so the distribution's public pool is gone; where it lives depends on the family.
  { path: '/etc/chrony/chrony.conf', mode: '0644', template: 'chrony.conf', when: { ntp: true, families: ['debian', 'ubuntu'] } },
  { path: '/etc/chrony.conf', mode: '0644', template: 'chrony.conf', when: { ntp: true, families: ['rhel'] } },
  { path: '/opt/kubeseed/firstboot', mode: '0755', template: 'firstboot.sh', when: {} },
  { path: '/etc/systemd/system/kubeseed-firstboot.service', mode: '0644', template: 'kubeseed-firstboot.service', when: {} },
  { path: '/usr/local/bin/kubeseed-status', mode: '0755', template: 'kubeseed-status.sh', when: {} },
  { path: '/etc/containerd/config.toml', mode: '0644', template: 'containerd-config.toml', when: {} },
  { path: '/etc/systemd/system/containerd.service', mode: '0644', template: 'containerd.service', when: {} },
  { path: '/etc/containerd/certs.d/{registry}/hosts.toml', mode: '0644', template: 'containerd-hosts.toml', when: {}, perRegistryMirror: true },
  { path: '/etc/crictl.yaml', mode: '0644', template: 'crictl.yaml', when: {} },
  { path: '/etc/systemd/system/kubelet.service', mode: '0644', template: 'kubelet.service', when: {} },
  { path: '/var/lib/kubelet/config.yaml', mode: '0600', template: 'kubelet-config', when: { mode: 'binary' } },
  { path: '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', mode: '0644', template: 'kubelet-kubeadm-dropin', when: { mode: 'kubeadm' } },
  { path: '/etc/systemd/system/kube-proxy.service', mode: '0644', template: 'kube-proxy.service', when: {} },
  { path: '/var/lib/kube-proxy/config.yaml', mode: '0600', template: 'kube-proxy-config', when: {} },
  { path: '/etc/systemd/system/etcd.service', mode: '0644', template: 'etcd.service', when: { etcdUnits: true, roles: ['etcd'] } },
  { path: '/etc/systemd/system/kube-apiserver.service', mode: '0644', template: 'kube-apiserver.service', when: { mode: 'binary', roles: ['control-plane'] } },
  { path: '/etc/systemd/system/kube-controller-manager.service', mode: '0644', template: 'kube-controller-manager.service', when: { mode: 'binary', roles: ['control-plane'] } },
  { path: '/etc/systemd/system/kube-scheduler.service', mode: '0644', template: 'kube-scheduler.service', when: { mode: 'binary', roles: ['control-plane'] } },
  { path: '/etc/kubernetes/encryption-config.yaml', mode: '0600', template: 'encryption-config', when: { roles: ['control-plane'] }, secret: true },
  { path: '/etc/kubernetes/audit-policy.yaml', mode: '0644', template: 'audit-policy', when: { roles: ['control-plane'] } },
  { path: '/etc/kubeseed/apiserver-proxy.conf', mode: '0644', template: 'apiserver-proxy.conf', when: { loadBalancer: 'local' } },
  { path: '/etc/systemd/system/kubeseed-apiserver-proxy.service', mode: '0644', template: 'apiserver-proxy.service', when: { loadBalancer: 'local' } },
  { path: '/etc/keepalived/keepalived.conf', mode: '0600', template: 'keepalived.conf', when: { loadBalancer: 'vip', roles: ['control-plane'] }, secret: true },
  { path: '/etc/haproxy/haproxy.cfg', mode: '0644', template: 'haproxy-vip.cfg', when: { loadBalancer: 'vip', roles: ['control-plane'] } },
  { path: '/etc/cni/net.d/10-kubeseed-bridge.conflist', mode: '0644', template: 'cni-bridge', when: { network: 'bridge' } },
  { path: '/etc/systemd/system/kubeseed-routes.service', mode: '0644', template: 'kubeseed-routes.service', when: { network: 'bridge', peers: true } },
  { path: '/etc/kubeseed/kubeadm.yaml', mode: '0600', template: 'kubeadm-config', when: { mode: 'kubeadm' }, secret: true },
  { path: '/opt/kubeseed/manifests/', mode: '0755', template: 'cluster-manifests', when: { bootstrap: true } },
];
