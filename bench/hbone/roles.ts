// The processes of bench/hbone, one role each (run as `node --import tsx --conditions=@mesh/source roles.ts <role> …`):
//   sink <port>                                      first byte 'B': count bytes, answer the count at EOF; 'E': echo
//   hbone-server <port> <dir>                        @mesh/hbone server forwarding each CONNECT to its authority
//   hbone-client <port> <via> <target> <dir>         TCP in → @mesh/hbone pool → tunnel (what ztunnel's outbound does)
//   tls-server <port> <target> <dir>                 bare Node TLS pipe, server side (mTLS 1.3) → TCP target
//   tls-client <port> <server> <dir>                 bare Node TLS pipe, client side: TCP in → TLS
// Each prints `ready` once it listens, and exits on SIGTERM.
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { createHboneServer, createHbonePool, relay } from '@mesh/hbone';
import { X509Bundle, X509BundleSet, X509Svid } from '@mesh/spiffe';

const [role, ...args] = process.argv.slice(2);
const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const hostPort = (s: string) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};
const tlsVersions = { minVersion: 'TLSv1.3' as const, ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256' };

function identity(dir: string, name: string) {
  const svid = X509Svid.parse({ certificates: read(dir, `${name}.pem`), privateKey: read(dir, `${name}.key`) });
  const bundles = new X509BundleSet([X509Bundle.fromPem('cluster.local', read(dir, 'root.pem'))]);
  return { svid, bundles };
}

function listen(server: ReturnType<typeof createServer>, port: number) {
  server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
}

process.on('SIGTERM', () => process.exit(0));

switch (role) {
  case 'sink': {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s: Socket) => {
      s.on('error', () => {});
      let mode: 'B' | 'E' | undefined;
      let count = 0;
      s.on('data', (d: Buffer) => {
        if (!mode) {
          mode = d[0] === 0x42 ? 'B' : 'E';
          d = d.subarray(1);
        }
        if (mode === 'B') count += d.length;
        else if (d.length) s.write(d);
      });
      s.on('end', () => {
        if (mode === 'B') {
          const reply = Buffer.alloc(8);
          reply.writeBigUInt64BE(BigInt(count));
          s.end(reply);
        } else s.end();
      });
    });
    listen(server, Number(args[0]));
    break;
  }
  case 'hbone-server': {
    const [port, dir] = args as [string, string];
    const { svid, bundles } = identity(dir, 'server');
    const server = createHboneServer({ certificate: () => svid, bundles, handler: () => ({ action: 'forward' }) });
    void server.listen({ host: '127.0.0.1', port: Number(port) }).then(() => process.stdout.write('ready\n'));
    break;
  }
  case 'hbone-client': {
    const [port, via, target, dir] = args as [string, string, string, string];
    const { svid, bundles } = identity(dir, 'client');
    const pool = createHbonePool({ certificate: () => svid, bundles });
    const expected = ['spiffe://cluster.local/ns/bench/sa/server'];
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s: Socket) => {
      s.on('error', () => {});
      pool.dial({ target, via, expectedIdentities: expected }).then(
        (tunnel) => {
          s.resume();
          void relay(s, tunnel);
        },
        () => s.destroy(),
      );
    });
    listen(server, Number(port));
    break;
  }
  case 'tls-server': {
    const [port, target, dir] = args as [string, string, string];
    const server = createTlsServer(
      {
        ...tlsVersions,
        cert: read(dir, 'server.pem'),
        key: read(dir, 'server.key'),
        ca: read(dir, 'root.pem'),
        requestCert: true,
        rejectUnauthorized: true,
        allowHalfOpen: true,
      },
      (t) => {
        t.setNoDelay(true);
        t.on('error', () => {});
        const up = connect({ ...hostPort(target), allowHalfOpen: true, noDelay: true });
        up.on('error', () => t.destroy());
        t.pipe(up);
        up.pipe(t);
      },
    );
    server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
    break;
  }
  case 'tls-client': {
    const [port, serverAddress, dir] = args as [string, string, string];
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s: Socket) => {
      s.on('error', () => {});
      const t = tlsConnect({
        // allowHalfOpen is honoured by tls.connect (it builds the TLSSocket with it) but missing from @types/node.
        ...({ allowHalfOpen: true } as object),
        ...hostPort(serverAddress),
        ...tlsVersions,
        cert: read(dir, 'client.pem'),
        key: read(dir, 'client.key'),
        ca: read(dir, 'root.pem'),
        checkServerIdentity: () => undefined,
      });
      t.setNoDelay(true);
      t.on('error', () => s.destroy());
      s.pipe(t);
      t.pipe(s);
    });
    listen(server, Number(port));
    break;
  }
  default:
    console.error(`unknown role ${role}`);
    process.exit(2);
}
