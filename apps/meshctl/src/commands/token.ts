// meshctl token create: a Kubernetes-style service account token for istiod in file mode, signed with the key in
// the CA directory (sa.key, created with sa.pub when missing). The token is the last line of stdout, so scripts can
// take it with `| tail -1`.
import { mkdir } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_TOKEN_ISSUER, loadTokenSigningKey, parseDuration, signServiceAccountToken } from '@mesh/ca';
import type { CommandIO } from '../io.js';

function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function serviceAccountArg(value: string): { namespace: string; serviceAccount: string } {
  const match = /^([^/\s]+)\/([^/\s]+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected <namespace>/<serviceaccount>, e.g. istio-system/ztunnel');
  return { namespace: match[1]!, serviceAccount: match[2]! };
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function registerToken(program: Command, io: CommandIO): void {
  const token = program.command('token').description("service account tokens for istiod's file mode");
  token
    .command('create')
    .description(
      'print a service account token (JWT, Kubernetes bound token format) that istiod accepts, signed with <ca-dir>/sa.key',
    )
    .requiredOption('--sa <namespace/name>', 'the service account, e.g. istio-system/ztunnel', serviceAccountArg)
    .option('--aud <audience>', 'audience (repeatable; default istio-ca)', collect)
    .option('--ttl <duration>', 'lifetime', durationArg, 3_600_000)
    .option('--ca-dir <dir>', "istiod's CA directory (holds sa.key)", io.env.ROOT_CA_DIR ?? './etc/cacerts')
    .option('--pod <name>', 'bind the token to a pod (kubernetes.io.pod.name)')
    .option('--pod-uid <uid>', 'uid of that pod (default random)')
    .option('--node <name>', 'bind the token to a node (kubernetes.io.node.name): what ztunnel node impersonation uses')
    .option('--issuer <iss>', 'issuer claim', DEFAULT_TOKEN_ISSUER)
    .action(
      async (options: {
        sa: { namespace: string; serviceAccount: string };
        aud?: string[];
        ttl: number;
        caDir: string;
        pod?: string;
        podUid?: string;
        node?: string;
        issuer: string;
      }) => {
        await mkdir(options.caDir, { recursive: true });
        const key = await loadTokenSigningKey({ dir: options.caDir, create: true, signal: io.signal });
        const jwt = signServiceAccountToken(key, {
          ...options.sa,
          audiences: options.aud ?? ['istio-ca'],
          ttlMs: options.ttl,
          issuer: options.issuer,
          ...(options.pod ? { pod: { name: options.pod, ...(options.podUid ? { uid: options.podUid } : {}) } } : {}),
          ...(options.node ? { node: { name: options.node } } : {}),
        });
        io.stdout(`${jwt}\n`);
      },
    );
  for (const command of token.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  token.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}
