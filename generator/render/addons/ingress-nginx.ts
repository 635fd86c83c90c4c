import type { PlannedImage } from '../../model/index.js';
import { clusterRole, crb, fieldEnv, image, meta, namespace, rb, role, rule, sa, saSubject, type Obj } from './common.js';

/**
 * ingress-nginx for bare metal: the controller behind a NodePort Service (no cloud load
 * balancer inside a site), with its admission webhook and the jobs that make its certificate.
 */
const NS = 'ingress-nginx';
const CLASS_CONTROLLER = 'k8s.io/ingress-nginx';
const labels = (component: string) => ({
  'app.kubernetes.io/name': 'ingress-nginx',
  'app.kubernetes.io/instance': 'ingress-nginx',
  'app.kubernetes.io/component': component,
});
const READ = ['get', 'list', 'watch'];
const admissionService = 'ingress-nginx-controller-admission';

function rbac(): Obj[] {
  return [
    sa('ingress-nginx', NS),
    sa('ingress-nginx-admission', NS),
    role('ingress-nginx', NS, [
      rule([''], ['namespaces'], ['get']),
      rule([''], ['configmaps', 'pods', 'secrets', 'endpoints'], READ),
      rule([''], ['services'], READ),
      rule(['networking.k8s.io'], ['ingresses'], READ),
      rule(['networking.k8s.io'], ['ingresses/status'], ['update']),
      rule(['networking.k8s.io'], ['ingressclasses'], READ),
      rule(['coordination.k8s.io'], ['leases'], ['get', 'update'], ['ingress-nginx-leader']),
      rule(['coordination.k8s.io'], ['leases'], ['create']),
      rule([''], ['events'], ['create', 'patch']),
      rule(['discovery.k8s.io'], ['endpointslices'], READ),
    ]),
    clusterRole('ingress-nginx', [
      rule([''], ['configmaps', 'endpoints', 'nodes', 'pods', 'secrets', 'namespaces'], ['list', 'watch']),
      rule(['coordination.k8s.io'], ['leases'], ['list', 'watch']),
      rule([''], ['nodes'], ['get']),
      rule([''], ['services'], READ),
      rule(['networking.k8s.io'], ['ingresses'], READ),
      rule([''], ['events'], ['create', 'patch']),
      rule(['networking.k8s.io'], ['ingresses/status'], ['update']),
      rule(['networking.k8s.io'], ['ingressclasses'], READ),
      rule(['discovery.k8s.io'], ['endpointslices'], READ),
    ]),
    role('ingress-nginx-admission', NS, [rule([''], ['secrets'], ['get', 'create'])]),
    clusterRole('ingress-nginx-admission', [rule(['admissionregistration.k8s.io'], ['validatingwebhookconfigurations'], ['get', 'update'])]),
    rb('ingress-nginx', NS, 'ingress-nginx', [saSubject('ingress-nginx', NS)]),
    rb('ingress-nginx-admission', NS, 'ingress-nginx-admission', [saSubject('ingress-nginx-admission', NS)]),
    crb('ingress-nginx', 'ingress-nginx', [saSubject('ingress-nginx', NS)]),
    crb('ingress-nginx-admission', 'ingress-nginx-admission', [saSubject('ingress-nginx-admission', NS)]),
  ];
}

/**
 * Controllers before 1.0 (the catalog's choice for Kubernetes 1.20) know no --controller-class,
 * ship no mimalloc, and need privilege escalation for nginx's file capability on port 80.
 */
const legacyController = (ref: string) => /:v0\.\d+/.test(ref);

function controller(images: PlannedImage[]): Obj {
  const l = labels('controller');
  const ref = image(images, 'ingress-nginx-controller');
  const legacy = legacyController(ref);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('ingress-nginx-controller', NS, l),
    spec: {
      minReadySeconds: 0,
      revisionHistoryLimit: 10,
      selector: { matchLabels: l },
      strategy: { rollingUpdate: { maxUnavailable: 1 }, type: 'RollingUpdate' },
      template: {
        metadata: { labels: l },
        spec: {
          dnsPolicy: 'ClusterFirst',
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          serviceAccountName: 'ingress-nginx',
          terminationGracePeriodSeconds: 300,
          containers: [
            {
              name: 'controller',
              image: ref,
              imagePullPolicy: 'IfNotPresent',
              args: [
                '/nginx-ingress-controller',
                '--election-id=ingress-nginx-leader',
                ...(legacy ? [] : [`--controller-class=${CLASS_CONTROLLER}`]),
                '--ingress-class=nginx',
                '--configmap=$(POD_NAMESPACE)/ingress-nginx-controller',
                '--validating-webhook=:8443',
                '--validating-webhook-certificate=/usr/local/certificates/cert',
                '--validating-webhook-key=/usr/local/certificates/key',
              ],
              env: [
                fieldEnv('POD_NAME', 'metadata.name'),
                fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
                ...(legacy ? [] : [{ name: 'LD_PRELOAD', value: '/usr/local/lib/libmimalloc.so' }]),
              ],
              lifecycle: { preStop: { exec: { command: ['/wait-shutdown'] } } },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 10254, scheme: 'HTTP' },
                initialDelaySeconds: 10,
                periodSeconds: 10,
                timeoutSeconds: 1,
                successThreshold: 1,
                failureThreshold: 5,
              },
              readinessProbe: {
                httpGet: { path: '/healthz', port: 10254, scheme: 'HTTP' },
                initialDelaySeconds: 10,
                periodSeconds: 10,
                timeoutSeconds: 1,
                successThreshold: 1,
                failureThreshold: 3,
              },
              ports: [
                { name: 'http', containerPort: 80, protocol: 'TCP' },
                { name: 'https', containerPort: 443, protocol: 'TCP' },
                { name: 'webhook', containerPort: 8443, protocol: 'TCP' },
              ],
              resources: { requests: { cpu: '100m', memory: '90Mi' } },
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 101,
                ...(legacy ? { allowPrivilegeEscalation: true } : { runAsGroup: 82, allowPrivilegeEscalation: false }),
                readOnlyRootFilesystem: false,
                capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [{ name: 'webhook-cert', mountPath: '/usr/local/certificates/', readOnly: true }],
            },
          ],
          volumes: [{ name: 'webhook-cert', secret: { secretName: 'ingress-nginx-admission' } }],
        },
      },
    },
  };
}

/** The certgen jobs: one makes the webhook's certificate, the other writes its CA into the webhook configuration. */
function certJob(name: string, args: string[], images: PlannedImage[]): Obj {
  const l = labels('admission-webhook');
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(name, NS, l),
    spec: {
      template: {
        metadata: { name, labels: l },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          restartPolicy: 'OnFailure',
          serviceAccountName: 'ingress-nginx-admission',
          containers: [
            {
              name: name.replace('ingress-nginx-admission-', ''),
              image: image(images, 'ingress-nginx-certgen'),
              imagePullPolicy: 'IfNotPresent',
              args,
              env: [fieldEnv('POD_NAMESPACE', 'metadata.namespace')],
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 65532,
                runAsGroup: 65532,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}

export function ingressNginx(images: PlannedImage[]): Obj[] {
  const l = labels('controller');
  return [
    namespace(NS, { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/instance': 'ingress-nginx' }),
    ...rbac(),
    // Snippet annotations let any Ingress author inject nginx configuration: off.
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('ingress-nginx-controller', NS, l), data: { 'allow-snippet-annotations': 'false' } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('ingress-nginx-controller', NS, l),
      spec: {
        type: 'NodePort',
        ipFamilyPolicy: 'SingleStack',
        ipFamilies: ['IPv4'],
        selector: l,
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http', appProtocol: 'http' },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 'https', appProtocol: 'https' },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(admissionService, NS, l),
      spec: { type: 'ClusterIP', selector: l, ports: [{ name: 'https-webhook', port: 443, targetPort: 'webhook', appProtocol: 'https' }] },
    },
    controller(images),
    certJob(
      'ingress-nginx-admission-create',
      [
        'create',
        `--host=${admissionService},${admissionService}.$(POD_NAMESPACE).svc`,
        '--namespace=$(POD_NAMESPACE)',
        '--secret-name=ingress-nginx-admission',
      ],
      images,
    ),
    certJob(
      'ingress-nginx-admission-patch',
      [
        'patch',
        '--webhook-name=ingress-nginx-admission',
        '--namespace=$(POD_NAMESPACE)',
        '--patch-mutating=false',
        '--secret-name=ingress-nginx-admission',
        '--patch-failure-policy=Fail',
      ],
      images,
    ),
    { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: meta('nginx', undefined, l), spec: { controller: CLASS_CONTROLLER } },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: meta('ingress-nginx-admission', undefined, labels('admission-webhook')),
      webhooks: [
        {
          name: 'validate.nginx.ingress.kubernetes.io',
          admissionReviewVersions: ['v1'],
          clientConfig: { service: { name: admissionService, namespace: NS, path: '/networking/v1/ingresses', port: 443 } },
          failurePolicy: 'Fail',
          matchPolicy: 'Equivalent',
          rules: [{ apiGroups: ['networking.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['ingresses'] }],
          sideEffects: 'None',
        },
      ],
    },
  ];
}
