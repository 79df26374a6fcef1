// The subscriber side of bench/istiod: XdsClients as ztunnel uses them (TLS to 15012 with a service account token,
// delta ADS, wildcard Address and Authorization; every resource decoded and validated), in their own process so
// istiod's RSS and CPU are its own. Reports over IPC when each client holds the full initial state, and when each
// sees a new revision of the changing pod.
import { readFileSync } from 'node:fs';
import { addressType, authorizationType, XdsClient } from '@mesh/xds';

const [address, countText, offsetText, rootFile, token, expectedText] = process.argv.slice(2);
const count = Number(countText);
const offset = Number(offsetText);
const expected = Number(expectedText);
const root = readFileSync(rootFile!, 'utf8');
const now = () => performance.timeOrigin + performance.now();
const clients: XdsClient[] = [];
const CHANGING = 'Kubernetes//Pod/ns-0/p-0';

function start(i: number) {
  const client = new XdsClient({
    server: address!,
    node: {
      id: `ztunnel~10.250.${i >> 8}.${i & 255}~ztunnel-${i}.istio-system~istio-system.svc.cluster.local`,
      metadata: { NAMESPACE: 'istio-system', NODE_NAME: `node-${i}` },
    },
    tls: { ca: root, serverName: 'istiod.istio-system.svc' },
    token: token!,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  const addresses = client.subscribe(addressType);
  const policies = client.subscribe(authorizationType);
  let full = false;
  let lastRev = '';
  const check = () => {
    if (!full && addresses.size + policies.size >= expected) {
      full = true;
      process.send?.({ event: 'full', i, at: now() });
    }
    const pod = addresses.get(CHANGING)?.resource.workload;
    const rev = pod?.name === 'p-0' ? (addresses.get(CHANGING)?.version ?? '') : '';
    if (full && rev && rev !== lastRev) {
      lastRev = rev;
      process.send?.({ event: 'seen', i, version: rev, at: now() });
    }
  };
  addresses.onChange(check);
  policies.onChange(check);
  clients.push(client);
}

process.on('message', async (message: string) => {
  if (message === 'go') for (let i = offset; i < offset + count; i++) start(i);
  else if (message === 'stop') {
    await Promise.all(clients.map((c) => c.close()));
    process.send?.('stopped', () => process.exit(0));
  }
});
process.send?.('loaded');
