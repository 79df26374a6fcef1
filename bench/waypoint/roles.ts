// The processes of bench/waypoint besides the waypoint and nginx (bundled once and run as plain JavaScript):
//   backend <host> <port>              HTTP/1.1 server answering every request 200 with a small JSON body
//   zt-in <host> <port> <dir>          @mesh/hbone server forwarding each CONNECT to its authority: the destination
//                                      ztunnel's inbound, in front of the backend
// Each prints `ready` once it listens, and exits on SIGTERM.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createHboneServer } from '@mesh/hbone';
import { X509Bundle, X509BundleSet, X509Svid } from '@mesh/spiffe';

const [role, ...args] = process.argv.slice(2);
const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
process.on('SIGTERM', () => process.exit(0));

switch (role) {
  case 'backend': {
    const body = Buffer.from('{"ok":true,"from":"backend"}\n');
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    server.keepAliveTimeout = 60_000;
    server.listen(Number(args[1]), args[0], () => process.stdout.write('ready\n'));
    break;
  }
  case 'zt-in': {
    const dir = args[2]!;
    const svid = X509Svid.parse({ certificates: read(dir, 'pod.pem'), privateKey: read(dir, 'pod.key') });
    const bundles = new X509BundleSet([X509Bundle.fromPem('cluster.local', read(dir, 'root.pem'))]);
    const server = createHboneServer({ certificate: () => svid, bundles, handler: () => ({ action: 'forward' }) });
    void server.listen({ host: args[0]!, port: Number(args[1]) }).then(() => process.stdout.write('ready\n'));
    break;
  }
  default:
    process.stderr.write(`unknown role ${role}\n`);
    process.exit(2);
}
