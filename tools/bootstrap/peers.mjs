// Debian packages that the interop suites run against (real independent implementations). `.ci/run` installs them
// with apt-get; `npm test` installs the missing ones when it can (root + apt-get) and otherwise names them.
// Add an entry when a suite starts using a new peer: the package, a command that proves it is usable, and who needs it.
import { spawnSync } from 'node:child_process';

/** @type {Array<{ package: string; check: string[]; usedBy: string }>} */
export const peers = [
  {
    package: 'openssl',
    check: ['openssl', 'version'],
    usedBy:
      '@mesh/spiffe and @mesh/ca interop (openssl verify/x509/req/s_server judge what we issue), meshctl ca tests, bench/ca; @mesh/xds TLS tests (test certificates)',
  },
  {
    package: 'nghttp2-proxy',
    check: ['nghttpx', '--version'],
    usedBy: '@mesh/hbone interop: nghttpx as the HBONE server for our client',
  },
  {
    package: 'tinyproxy',
    check: ['tinyproxy', '-v'],
    usedBy: '@mesh/hbone interop: the HTTP/1 CONNECT backend behind nghttpx',
  },
  {
    package: 'python3-h2',
    check: ['/usr/bin/python3', '-c', 'import h2'],
    usedBy: '@mesh/hbone interop: a python h2 HBONE client against our server',
  },
  {
    package: 'tshark',
    check: ['tshark', '--version'],
    usedBy: '@mesh/hbone interop and the ztunnel e2e suite: the HBONE port carries only TLS',
  },
  {
    package: 'curl',
    check: ['curl', '--version'],
    usedBy: "ztunnel and meshctl up e2e suites: requests through the pods' SOCKS5 ports (curl --socks5)",
  },
  {
    package: 'stunnel4',
    check: ['stunnel4', '-version'],
    usedBy: 'bench/hbone: the stunnel mTLS pair measured side by side',
  },
  {
    package: 'nginx-light',
    check: ['/usr/sbin/nginx', '-v'],
    usedBy: 'bench/waypoint: nginx as the plain HTTP reverse proxy measured side by side with the waypoint',
  },
];

export const peerPackages = [...new Set(peers.map((p) => p.package))];

export function missingPeers() {
  const missing = peers.filter(
    (peer) => spawnSync(peer.check[0], peer.check.slice(1), { stdio: 'ignore' }).status !== 0,
  );
  return [...new Set(missing.map((p) => p.package))];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--list')) console.log(peerPackages.join(' '));
  else {
    const missing = missingPeers();
    console.log(missing.length ? `missing: ${missing.join(' ')}` : 'all interop peers present');
    process.exitCode = missing.length ? 1 : 0;
  }
}
