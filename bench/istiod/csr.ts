// CSR load against istiod's CA on 15012: `concurrency` calls in flight over one channel per worker, each a real
// IstioCertificateRequest with a bearer token (authenticated and signed by istiod), CSRs made up front so the client's
// CPU goes to the calls. Reports completed calls and the seconds they took.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { IstioCaClient } from '@mesh/ca/grpc';
import { createCertificateRequest, generatePrivateKey } from '@mesh/spiffe';

const [address, rootFile, token, secondsText, concurrencyText] = process.argv.slice(2);
const root = readFileSync(rootFile!);
const csrs = Array.from({ length: 64 }, () =>
  createCertificateRequest({
    privateKey: generatePrivateKey(),
    uris: ['spiffe://cluster.local/ns/ns-0/sa/sa-0'],
  }).toPem(),
);
const client = new IstioCaClient({
  address: address!,
  credentials: grpc.credentials.createSsl(root),
  channelOptions: { 'grpc.ssl_target_name_override': 'istiod.istio-system.svc' },
  token: token!,
});

process.on('message', async (message: string) => {
  if (message !== 'go') return;
  // Warm up the channel and the server's key cache.
  for (let i = 0; i < 20; i++) await client.createCertificate({ csr: csrs[i % csrs.length]! });
  const end = performance.now() + Number(secondsText) * 1000;
  const start = performance.now();
  let done = 0;
  let failed = 0;
  const worker = async (w: number) => {
    for (let i = w; performance.now() < end; i++) {
      try {
        const chain = await client.createCertificate({ csr: csrs[i % csrs.length]! });
        if (chain.length >= 2) done++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(concurrencyText) }, (_, w) => worker(w)));
  const seconds = (performance.now() - start) / 1000;
  await client.close();
  process.send?.({ event: 'csr', done, failed, seconds }, () => process.exit(0));
});
process.send?.('loaded');
