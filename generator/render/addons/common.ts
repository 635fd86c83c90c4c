import { stringify } from 'yaml';
import type { PlannedImage } from '../../model/index.js';

/** Building blocks of the add-on manifests: every manifest is built as objects, then serialised. */
export type Obj = Record<string, unknown>;

export const meta = (name: string, namespace?: string, labels?: Record<string, string>) => ({
  name,
  ...(namespace ? { namespace } : {}),
  ...(labels ? { labels } : {}),
});
export const sa = (name: string, ns = 'kube-system'): Obj => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name, ns) });
export const crb = (name: string, role: string, subjects: Obj[]): Obj => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: meta(name),
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects,
});
export const rb = (name: string, ns: string, role: string, subjects: Obj[], kind: 'Role' | 'ClusterRole' = 'Role'): Obj => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: meta(name, ns),
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role },
  subjects,
});
export const clusterRole = (name: string, rules: Obj[], labels?: Record<string, string>): Obj => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: meta(name, undefined, labels),
  rules,
});
export const role = (name: string, ns: string, rules: Obj[]): Obj => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: meta(name, ns),
  rules,
});
export const saSubject = (name: string, ns = 'kube-system') => ({ kind: 'ServiceAccount', name, namespace: ns });
export const namespace = (name: string, labels?: Record<string, string>): Obj => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: meta(name, undefined, labels),
});
/** A rule as RBAC writes it; `''` is the core API group. */
export const rule = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]): Obj => ({
  apiGroups,
  resources,
  ...(resourceNames ? { resourceNames } : {}),
  verbs,
});
export const fieldEnv = (name: string, fieldPath: string): Obj => ({ name, valueFrom: { fieldRef: { fieldPath } } });

export function doc(objects: Obj[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

export function image(images: PlannedImage[], name: string): string {
  const img = images.find((i) => i.name === name);
  if (!img) throw new Error(`internal: image ${name} is not in the plan`);
  return img.ref;
}
