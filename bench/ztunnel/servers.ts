// The server side of bench/ztunnel, in its own process on the server pod's IP:
//   <ip> <sinkPort> <httpPort>
// sink: first byte 'B' counts bytes and answers the count (8 bytes) at EOF; 'E' echoes; 'H' holds the connection.
// http: HTTP/1.1 keep-alive, 1 KiB body per request (Istio's published figures use 1 KB payloads).
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';

const [ip, sinkPort, httpPort] = process.argv.slice(2) as [string, string, string];
const body = Buffer.alloc(1024, 0x61);
let ready = 0;
const up = () => ++ready === 2 && process.stdout.write('ready\n');

const sink = createServer({ allowHalfOpen: true, noDelay: true }, (s: Socket) => {
  s.on('error', () => {});
  let mode: number | undefined;
  let count = 0;
  s.on('data', (d: Buffer) => {
    if (mode === undefined) {
      mode = d[0];
      d = d.subarray(1);
    }
    if (mode === 0x42) count += d.length;
    else if (mode === 0x45 && d.length) s.write(d);
  });
  s.on('end', () => {
    if (mode === 0x42) {
      const reply = Buffer.alloc(8);
      reply.writeBigUInt64BE(BigInt(count));
      s.end(reply);
    } else s.end();
  });
});
sink.maxConnections = 10_000;
sink.listen(Number(sinkPort), ip, up);

const http = createHttpServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
});
http.listen(Number(httpPort), ip, up);
process.on('SIGTERM', () => process.exit(0));
