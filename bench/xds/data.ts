// A realistic ambient mesh's Address resources: 90% workloads (pods with a service, HBONE, identity, node) and 10%
// services (a VIP, ports, a waypoint on some).
import type { DeepPartial } from '@mesh/api';
import type { Address } from '@mesh/api/istio.workload';

const ip = (a: number, i: number) => Uint8Array.of(10, a, (i >> 8) & 255, i & 255);

export function sampleAddress(i: number, total: number, generation = 0): DeepPartial<Address> {
  const services = Math.max(1, Math.floor(total / 10));
  const ns = `ns-${i % 50}`;
  if (i < services) {
    return {
      service: {
        name: `svc-${i}`,
        namespace: ns,
        hostname: `svc-${i}.${ns}.svc.cluster.local`,
        addresses: [{ network: '', address: ip(96, i) }],
        ports: [
          { servicePort: 80, targetPort: 8080 + generation },
          { servicePort: 443, targetPort: 8443 },
        ],
        ...(i % 5 === 0 ? { waypoint: { address: { network: '', address: ip(97, i) }, hboneMtlsPort: 15008 } } : {}),
      },
    };
  }
  const svc = i % services;
  const pod = `app-${svc}-${i}`;
  return {
    workload: {
      uid: `Kubernetes//Pod/${ns}/${pod}`,
      name: pod,
      namespace: ns,
      // Generation 0 uses 10.1.x.y; each later generation another second octet, so a change always changes something.
      addresses: [ip(generation === 0 ? 1 : 2 + (generation % 250), i)],
      tunnelProtocol: 1,
      serviceAccount: `sa-${svc}`,
      node: `node-${i % 100}`,
      canonicalName: `app-${svc}`,
      canonicalRevision: 'v1',
      workloadName: `app-${svc}`,
      workloadType: 1,
      clusterId: 'Kubernetes',
      services: {
        [`${`ns-${svc % 50}`}/svc-${svc}.ns-${svc % 50}.svc.cluster.local`]: {
          ports: [{ servicePort: 80, targetPort: 8080 }],
        },
      },
    },
  };
}

export function sampleAddresses(total: number): Array<DeepPartial<Address>> {
  return Array.from({ length: total }, (_, i) => sampleAddress(i, total));
}

/**
 * Round `round` of the change benchmark: one workload gets a new IP. 7919 is prime, so rounds visit distinct workloads
 * (up to the number of workloads) and every round is a real change.
 */
export function changedAddress(round: number, total: number): DeepPartial<Address> {
  const index = Math.floor(total / 10) + ((round * 7919) % Math.ceil((total * 9) / 10));
  return sampleAddress(Math.min(index, total - 1), total, round);
}
