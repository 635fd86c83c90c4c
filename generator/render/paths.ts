/** Where things live on a node; one table so units, scripts and configs agree. */
export const NODE = {
  bin: '/usr/local/bin',
  sbin: '/usr/local/sbin',
  cniBin: '/opt/cni/bin',
  cniConf: '/etc/cni/net.d',
  pki: '/etc/kubernetes/pki',
  kubeletDir: '/var/lib/kubelet',
  kubeProxyDir: '/var/lib/kube-proxy',
  etcdData: '/var/lib/etcd',
  auditLog: '/var/log/kubernetes/audit.log',
  payload: '/opt/kubeseed/payload',
  manifests: '/opt/kubeseed/manifests',
  state: '/var/lib/kubeseed',
  containerdSock: 'unix:///run/containerd/containerd.sock',
} as const;
