// A minimal SOCKS5 client for the demo (no authentication, CONNECT to an IPv4 address), used where curl is missing
// and by the frontend sample app. One HTTP/1.1 GET per connection, with Connection: close.
import { connect } from 'node:net';

/** GET `url` through the SOCKS5 proxy at `socks` (host:port); resolves with the status, response head and body. */
export function socksGet(socks, url, { timeoutMs = 5_000 } = {}) {
  const target = new URL(url);
  const [proxyHost, proxyPort] = socks.split(':');
  const port = Number(target.port || 80);
  const octets = target.hostname.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255)))
    return Promise.reject(new Error(`${target.hostname} is not an IPv4 address`));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: proxyHost, port: Number(proxyPort) });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let data = Buffer.alloc(0);
    socket.on('connect', () => {
      // Greeting (no auth), CONNECT request, then the HTTP request: ztunnel reads them in order.
      socket.write(Buffer.from([5, 1, 0]));
      socket.write(Buffer.from([5, 1, 0, 1, ...octets, port >> 8, port & 255]));
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on('data', (chunk) => (data = Buffer.concat([data, chunk])));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      // [5, 0] answers the greeting; the CONNECT reply follows (10 bytes for an IPv4 bound address).
      if (data.length < 2 || data[0] !== 5 || data[1] !== 0)
        return reject(new Error('the SOCKS5 proxy refused the greeting'));
      if (data.length < 12 || data[3] !== 0)
        return reject(new Error(`the mesh refused the connection (SOCKS5 reply ${data[3] ?? 'missing'})`));
      const http = data.subarray(2 + 10).toString('utf8');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(http)?.[1] ?? 0);
      if (!status) return reject(new Error('the connection closed without an HTTP answer'));
      const headers = http.slice(0, http.indexOf('\r\n\r\n'));
      const body = http.slice(http.indexOf('\r\n\r\n') + 4);
      resolve({ status, headers, body: /transfer-encoding: chunked/i.test(headers) ? dechunk(body) : body });
    });
  });
}

function dechunk(text) {
  let out = '';
  for (let rest = text; ;) {
    const i = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, i), 16);
    if (!size) return out;
    out += rest.slice(i + 2, i + 2 + size);
    rest = rest.slice(i + 2 + size + 2);
  }
}
