// On the wire, HBONE is TLS and nothing else: tshark captures the server port while tunnels carry a recognisable
// plaintext, and every byte on the port must be TLS records (handshake, then application data), with no plaintext.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHboneServer, createHbonePool } from '../src/index.js';
import { createTestPki, startEchoServer } from '../src/testing.js';
import { run, tempDir } from './peers.js';

describe('tshark on the HBONE port', () => {
  it('sees only TLS', async () => {
    using dir = tempDir();
    await using echo = await startEchoServer();
    const pki = createTestPki();
    const svid = pki.issue('/ns/default/sa/server');
    const server = createHboneServer({
      certificate: () => svid,
      bundles: pki.bundles,
      handler: () => ({ action: 'forward' }),
    });
    const pool = createHbonePool({ certificate: () => pki.issue('/ns/default/sa/client'), bundles: pki.bundles });
    const capture = join(dir.path, 'hbone.pcapng');
    try {
      const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
      const tshark = spawn('tshark', ['-i', 'lo', '-f', `tcp port ${port}`, '-w', capture, '-a', 'duration:30'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      const exited = new Promise<void>((resolve) => tshark.once('exit', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tshark did not start: ${log}`)), 15_000);
        tshark.stderr.on('data', (d: Buffer) => {
          log += d.toString();
          if (log.includes('Capturing on')) {
            clearTimeout(timer);
            resolve();
          }
        });
        tshark.once('exit', () => reject(new Error(`tshark exited: ${log}`)));
      });
      await new Promise((r) => setTimeout(r, 300));
      const marker = 'PLAINTEXT-MARKER-'.repeat(64);
      for (let i = 0; i < 3; i++) {
        const t = await pool.dial({ target: echo.address, via: `127.0.0.1:${port}`, expectedIdentities: [svid.id] });
        const chunks: Buffer[] = [];
        t.on('data', (d: Buffer) => chunks.push(d));
        t.end(marker);
        await new Promise((r) => t.once('end', r));
        expect(Buffer.concat(chunks).toString()).toBe(marker);
      }
      await pool.close();
      await server.close();
      await new Promise((r) => setTimeout(r, 300));
      tshark.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);

      const raw = readFileSync(capture);
      expect(raw.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false);
      const decodeAs = ['-d', `tcp.port==${port},tls`];
      const all = await run('tshark', [
        '-r',
        capture,
        ...decodeAs,
        '-Y',
        'tcp.len > 0',
        '-T',
        'fields',
        '-e',
        'frame.number',
        '-e',
        '_ws.col.Protocol',
      ]);
      const rows = all.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t'));
      expect(rows.length).toBeGreaterThan(10);
      // The ClientHello's record layer says TLS 1.0 (tshark: "TLSv1"); everything after it is TLS 1.3.
      expect(rows.filter(([, p]) => p === 'TLSv1.3').length).toBeGreaterThan(rows.length / 2);
      const notTls = rows.filter(([, protocol]) => !/^TLSv1(\.[23])?$/.test(protocol ?? ''));
      expect(notTls, `non-TLS payload segments: ${JSON.stringify(notTls.slice(0, 5))}`).toEqual([]);
      const malformed = await run('tshark', [
        '-r',
        capture,
        ...decodeAs,
        '-Y',
        '_ws.malformed || _ws.expert.severity >= error',
        '-T',
        'fields',
        '-e',
        'frame.number',
      ]);
      expect(malformed.stdout.trim()).toBe('');
      const types = await run('tshark', [
        '-r',
        capture,
        ...decodeAs,
        '-Y',
        'tls.record',
        '-T',
        'fields',
        '-e',
        'tls.record.content_type',
        '-e',
        'tls.record.opaque_type',
      ]);
      const contentTypes = new Set(types.stdout.split(/[\s,]+/).filter(Boolean));
      // 22 = handshake, 20 = change_cipher_spec (compatibility), 23 = the opaque type of every encrypted TLS 1.3 record.
      expect([...contentTypes].every((t) => ['20', '21', '22', '23'].includes(t))).toBe(true);
      expect(contentTypes.has('22') && contentTypes.has('23')).toBe(true);
    } finally {
      await pool.destroy();
      await server.destroy();
    }
  });
});
