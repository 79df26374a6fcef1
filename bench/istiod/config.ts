// The benchmark mesh as files: N namespaces, each with its Services, Pods (spread over nodes) and
// AuthorizationPolicies, one file per namespace plus one file holding the single pod the changes edit.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface MeshSize {
  pods: number;
  services: number;
  policies: number;
  namespaces: number;
  nodes: number;
}

const ip = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

function pod(ns: number, i: number, podsPerNs: number, servicesPerNs: number, nodes: number, rev = 0): string {
  const n = ns * podsPerNs + i;
  return `apiVersion: v1
kind: Pod
metadata: {name: p-${i}, namespace: ns-${ns}, uid: u-${ns}-${i}, labels: {app: svc-${i % servicesPerNs}, version: "r${rev}"}}
spec: {nodeName: node-${n % nodes}, serviceAccountName: sa-${i % servicesPerNs}, containers: [{name: app}]}
status: {podIP: ${ip(0x100000 + n)}, phase: Running}
`;
}

/** Writes the mesh; returns a function that rewrites the changing pod (ns-0/p-0) with a new revision label. */
export async function writeMesh(dir: string, size: MeshSize): Promise<(rev: number) => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const podsPerNs = size.pods / size.namespaces;
  const servicesPerNs = size.services / size.namespaces;
  const policiesPerNs = size.policies / size.namespaces;
  for (let ns = 0; ns < size.namespaces; ns++) {
    const docs: string[] = [
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-${ns}, labels: {istio.io/dataplane-mode: ambient}}\n`,
    ];
    for (let s = 0; s < servicesPerNs; s++) {
      const n = ns * servicesPerNs + s;
      docs.push(`apiVersion: v1
kind: Service
metadata: {name: svc-${s}, namespace: ns-${ns}}
spec:
  selector: {app: svc-${s}}
  clusterIP: ${ip(0x600000 + n)}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: grpc, port: 7070}]
`);
    }
    for (let i = ns === 0 ? 1 : 0; i < podsPerNs; i++) docs.push(pod(ns, i, podsPerNs, servicesPerNs, size.nodes));
    for (let p = 0; p < policiesPerNs; p++)
      docs.push(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-${p}, namespace: ns-${ns}}
spec:
  selector: {matchLabels: {app: svc-${p % servicesPerNs}}}
  rules:
  - from: [{source: {namespaces: [ns-${(ns + 1) % size.namespaces}], principals: ["cluster.local/ns/ns-${ns}/sa/sa-${p}"]}}]
    to: [{operation: {ports: ["8080"]}}]
`);
    await writeFile(join(dir, `ns-${ns}.yaml`), docs.join('---\n'));
  }
  const change = (rev: number) =>
    writeFile(join(dir, 'changing-pod.yaml'), pod(0, 0, podsPerNs, servicesPerNs, size.nodes, rev));
  await change(0);
  return change;
}
