import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTokenPublicKeys, TOKEN_KEY_FILES } from '@mesh/ca';
import { kubernetesCaller, verifyJwt } from '@mesh/ca/grpc';
import { bufferedIO } from '../io.js';
import { runMeshctl } from '../program.js';

async function run(...args: string[]) {
  const io = bufferedIO();
  const code = await runMeshctl(args, io);
  return { code, out: io.out.join(''), err: io.err.join('') };
}

describe('meshctl token create', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshctl-token-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a token on the last line that verifies against sa.pub, with the bindings asked for', async () => {
    const caDir = join(dir, 'ca');
    const r = await run('token', 'create', '--sa', 'istio-system/ztunnel', '--ca-dir', caDir, '--node', 'node-1');
    expect(r).toMatchObject({ code: 0, err: '' });
    const token = r.out.trimEnd().split('\n').at(-1)!;
    const jwks = await readTokenPublicKeys({ file: join(caDir, TOKEN_KEY_FILES.publicKeys) });
    const claims = verifyJwt(token, { jwks, audiences: ['istio-ca'], now: Date.now() });
    expect(kubernetesCaller(claims)).toMatchObject({
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      nodeName: 'node-1',
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);

    const second = await run(
      'token',
      'create',
      '--sa',
      'default/web',
      '--ca-dir',
      caDir,
      '--aud',
      'a',
      '--aud',
      'b',
      '--ttl',
      '10m',
      '--pod',
      'web-1',
      '--pod-uid',
      'u-1',
    );
    const other = verifyJwt(second.out.trim(), { jwks, audiences: ['b'], now: Date.now() });
    expect(other).toMatchObject({ aud: ['a', 'b'], sub: 'system:serviceaccount:default:web' });
    expect(kubernetesCaller(other)).toMatchObject({ podName: 'web-1', podUid: 'u-1' });
    expect((other.exp ?? 0) - (other.iat ?? 0)).toBe(600);
  });

  it('refuses a malformed service account (usage error) and a bad name', async () => {
    expect((await run('token', 'create', '--sa', 'web', '--ca-dir', dir)).code).toBe(2);
    const bad = await run('token', 'create', '--sa', 'Default/web', '--ca-dir', join(dir, 'ca'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^ERR_CA_INVALID_OPTION: namespace "Default" is not a Kubernetes object name/);
  });
});
