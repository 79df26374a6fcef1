import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { createHbonePool } from '@mesh/hbone';
import { createTestPki } from '@mesh/hbone/testing';
const dir = '/tmp/hbinterop';
const pki = createTestPki();
const srvSvid = pki.issue('/ns/default/sa/nghttpx');
writeFileSync(`${dir}/ca.pem`, pki.rootPem);
writeFileSync(`${dir}/server.pem`, srvSvid.chainPem());
writeFileSync(`${dir}/server.key`, srvSvid.keyPem());
const target = createServer({ allowHalfOpen: true }, (c) => {
  c.end('greeting');
  let got = '';
  c.on('data', (d) => (got += d));
  c.on('end', () => console.log('target got after its FIN:', JSON.stringify(got)));
  c.on('error', (e) => console.log('target err', e.message));
});
await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
const tport = (target.address() as any).port;
writeFileSync(
  `${dir}/tp.conf`,
  `Port 23998\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort ${tport}\nTimeout 600\nLogLevel Warning\n`,
);
const tp = spawn('tinyproxy', ['-d', '-c', `${dir}/tp.conf`], { stdio: 'ignore' });
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
    '--log-level=WARN',
    `${dir}/server.key`,
    `${dir}/server.pem`,
  ],
  { stdio: 'inherit' },
);
await new Promise((r) => setTimeout(r, 800));
const pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
try {
  const t = await pool.dial({ target: `127.0.0.1:${tport}`, via: '127.0.0.1:23999', expectedIdentities: [srvSvid.id] });
  t.on('error', (e) => console.log('tunnel error', e.message));
  let buf = '';
  t.on('data', (d) => (buf += d));
  const res = await Promise.race([
    new Promise((r) => t.once('end', () => r('end'))),
    new Promise((r) => setTimeout(() => r('timeout'), 3000)),
  ]);
  console.log('upstream FIN → client:', res, JSON.stringify(buf), 'rst', t.rstCode, 'closed', t.closed);
  t.end('reply after upstream FIN');
  await new Promise((r) => setTimeout(r, 500));
} catch (e) {
  console.log('error', e);
}
await pool.destroy();
ng.kill();
tp.kill();
target.close();
