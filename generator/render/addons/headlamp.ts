import type { PlannedImage } from '../../model/index.js';
import { image, meta, namespace, type Obj } from './common.js';

/**
 * Headlamp, SIG UI's web UI, in-cluster (upstream's kubernetes-headlamp.yaml: `-in-cluster`,
 * port 4466). Like the dashboard it replaces, it gets no cluster rights of its own: operators
 * sign in with a token of an account they choose, and Headlamp acts with that token's rights.
 */
const NS = 'headlamp';
const labels = { 'k8s-app': 'headlamp' };
const PORT = 4466;

export function headlamp(images: PlannedImage[]): Obj[] {
  const probe = { httpGet: { scheme: 'HTTP', path: '/', port: PORT }, initialDelaySeconds: 30, timeoutSeconds: 30 };
  return [
    namespace(NS),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('headlamp', NS), automountServiceAccountToken: false },
    { apiVersion: 'v1', kind: 'Service', metadata: meta('headlamp', NS, labels), spec: { selector: labels, ports: [{ port: 80, targetPort: PORT }] } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('headlamp', NS, labels),
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'headlamp',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'headlamp',
                image: image(images, 'headlamp'),
                imagePullPolicy: 'IfNotPresent',
                args: ['-in-cluster', '-plugins-dir=/headlamp/plugins'],
                ports: [{ containerPort: PORT, name: 'http' }],
                readinessProbe: probe,
                livenessProbe: probe,
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      },
    },
  ];
}
