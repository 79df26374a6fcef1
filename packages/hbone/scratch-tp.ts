import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { startEchoServer } from '@mesh/hbone/testing';
const dir = '/tmp/hbinterop';
import { createServer } from 'node:net';
const srv = createServer({ allowHalfOpen: true }, (c) => {
  let n = 0;
  c.on('data', (d) => (n += d.length));
  c.on('end', () => setTimeout(() => c.end(`count=${n}`), 300));
});
await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
const echo = {
  port: (srv.address() as any).port,
  address: `127.0.0.1:${(srv.address() as any).port}`,
  [Symbol.asyncDispose]: async () => srv.close(),
};
writeFileSync(
  `${dir}/tp.conf`,
  `Port 23998\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort ${echo.port}\nTimeout 600\nLogLevel Warning\n`,
);
const tp = spawn('tinyproxy', ['-d', '-c', `${dir}/tp.conf`], { stdio: 'inherit' });
await new Promise((r) => setTimeout(r, 500));
const s = connect({ host: '127.0.0.1', port: 23998, allowHalfOpen: true });
let buf = '';
s.on('data', (d) => {
  buf += d;
});
s.write(`CONNECT ${echo.address} HTTP/1.1\r\nHost: ${echo.address}\r\n\r\n`);
await new Promise((r) => setTimeout(r, 300));
s.write('abc');
await new Promise((r) => setTimeout(r, 200));
s.end();
const res = await Promise.race([
  new Promise((r) => s.once('end', () => r('end'))),
  new Promise((r) => setTimeout(() => r('timeout'), 2000)),
]);
console.log('tinyproxy half-close:', res, JSON.stringify(buf));
s.destroy();
tp.kill();
await echo[Symbol.asyncDispose]();
