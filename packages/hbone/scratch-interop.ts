import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createHbonePool } from '@mesh/hbone';
import { createTestPki, startEchoServer } from '@mesh/hbone/testing';
const dir = '/tmp/hbinterop';
const pki = createTestPki();
const srv = pki.issue('/ns/default/sa/nghttpx');
writeFileSync(`${dir}/ca.pem`, pki.rootPem);
writeFileSync(`${dir}/server.pem`, srv.chainPem());
writeFileSync(`${dir}/server.key`, srv.keyPem());
const echo = await startEchoServer();
writeFileSync(
  `${dir}/tp.conf`,
  `Port 23998\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort ${echo.port}\nTimeout 600\nLogLevel Info\nMaxClients 100\n`,
);
const tp = spawn('tinyproxy', ['-d', '-c', `${dir}/tp.conf`], { stdio: 'inherit' });
const ng = spawn(
  'nghttpx',
  [
    '--conf=/dev/null',
    '--http2-proxy',
    '-f127.0.0.1,23999',
    '-b127.0.0.1,23998',
    '--verify-client',
    `--verify-client-cacert=${dir}/ca.pem`,
    `--cacert=${dir}/ca.pem`,
    '--no-ocsp',
    '--workers=1',
    `${dir}/server.key`,
    `${dir}/server.pem`,
  ],
  { stdio: 'inherit' },
);
await new Promise((r) => setTimeout(r, 800));
const pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
try {
  const t = await pool.dial({ target: echo.address, via: '127.0.0.1:23999', expectedIdentities: [srv.id] });
  console.log('open', t.info.status, t.info.responseHeaders);
  const chunks: Buffer[] = [];
  t.on('data', (d) => chunks.push(d));
  t.write('hello');
  await new Promise((r) => setTimeout(r, 200));
  console.log('before end got', Buffer.concat(chunks).toString());
  t.end(' world');
  const res = await Promise.race([
    new Promise((r) => t.once('end', () => r('end'))),
    new Promise((r) => setTimeout(() => r('timeout'), 3000)),
  ]);
  console.log('after half-close', res, JSON.stringify(Buffer.concat(chunks).toString()));
} catch (e) {
  console.log('error', e);
}
await pool.destroy();
tp.kill();
ng.kill();
await echo[Symbol.asyncDispose]();
