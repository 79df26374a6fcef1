import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { createHbonePool } from '@mesh/hbone';
import { createTestPki } from '@mesh/hbone/testing';
const dir = '/tmp/hbinterop';
const pki = createTestPki();
const srvSvid = pki.issue('/ns/default/sa/nghttpx');
writeFileSync(`${dir}/ca.pem`, pki.rootPem);
writeFileSync(`${dir}/server.pem`, srvSvid.chainPem());
writeFileSync(`${dir}/server.key`, srvSvid.keyPem());
// count-after-EOF target
const target = createServer({ allowHalfOpen: true }, (c) => {
  let n = 0;
  c.on('data', (d) => (n += d.length));
  c.on('end', () => {
    console.log('target: EOF after', n);
    setTimeout(() => c.end(`count=${n}`), 300);
  });
});
await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
const tport = (target.address() as any).port;
// minimal half-close-correct HTTP/1 CONNECT proxy (diagnostic only)
const proxy = createServer({ allowHalfOpen: true }, (c) => {
  c.once('data', () => {
    const u = connect({ host: '127.0.0.1', port: tport, allowHalfOpen: true }, () => {
      c.write('HTTP/1.1 200 OK\r\n\r\n');
      c.pipe(u);
      u.pipe(c);
    });
  });
});
await new Promise<void>((r) => proxy.listen(23997, '127.0.0.1', r));
const ng = spawn(
  'nghttpx',
  [
    '--conf=/dev/null',
    '--http2-proxy',
    '-f127.0.0.1,23999',
    '-b127.0.0.1,23997',
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
  const t = await pool.dial({ target: `127.0.0.1:${tport}`, via: '127.0.0.1:23999', expectedIdentities: [srvSvid.id] });
  t.on('error', (e) => console.log('tunnel error', e.message));
  let buf = '';
  t.on('data', (d) => (buf += d));
  t.end('abcd');
  const res = await Promise.race([
    new Promise((r) => t.once('end', () => r('end'))),
    new Promise((r) => setTimeout(() => r('timeout'), 3000)),
  ]);
  console.log('nghttpx half-close:', res, JSON.stringify(buf));
} catch (e) {
  console.log('error', e);
}
await pool.destroy();
ng.kill();
proxy.close();
target.close();
