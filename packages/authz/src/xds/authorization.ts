// The ztunnel wire form: istio.security.Authorization <-> the engine's L4Policy. The only module that touches @mesh/api.
import {
  Action,
  Authorization,
  Scope,
  type Address,
  type Match,
  type StringMatch as WireStringMatch,
} from '@mesh/api/istio.security';
import { AuthzError } from '../errors.js';
import { cidrBytes, cidrFromBytes, parseCidr } from '../match/ip.js';
import type { StringMatch } from '../match/strings.js';
import type { L4PolicyIndex } from '../ztunnel/engine.js';
import type { L4Match, L4Policy, L4Scope } from '../ztunnel/model.js';

const SCOPES: Record<L4Scope, Scope> = {
  GLOBAL: Scope.GLOBAL,
  NAMESPACE: Scope.NAMESPACE,
  WORKLOAD_SELECTOR: Scope.WORKLOAD_SELECTOR,
};

function toWireString(m: StringMatch): WireStringMatch {
  switch (m.kind) {
    case 'exact':
      return { exact: m.value };
    case 'prefix':
      return { prefix: m.value };
    case 'suffix':
      return { suffix: m.value };
    default:
      return { presence: {} };
  }
}

function toWireAddress(text: string): Address {
  const cidr = parseCidr(text);
  if (!cidr) throw new AuthzError('ERR_AUTHZ_INVALID_XDS', `"${text}" is not a CIDR`);
  return { address: cidrBytes(cidr), length: cidr.prefix };
}

function toWireMatch(m: L4Match): Match {
  return {
    namespaces: (m.namespaces ?? []).map(toWireString),
    notNamespaces: (m.notNamespaces ?? []).map(toWireString),
    principals: (m.principals ?? []).map(toWireString),
    notPrincipals: (m.notPrincipals ?? []).map(toWireString),
    sourceIps: (m.sourceIps ?? []).map(toWireAddress),
    notSourceIps: (m.notSourceIps ?? []).map(toWireAddress),
    destinationIps: (m.destinationIps ?? []).map(toWireAddress),
    notDestinationIps: (m.notDestinationIps ?? []).map(toWireAddress),
    destinationPorts: [...(m.destinationPorts ?? [])],
    notDestinationPorts: [...(m.notDestinationPorts ?? [])],
    serviceAccounts: (m.serviceAccounts ?? []).map((s) => ({ ...s })),
    notServiceAccounts: (m.notServiceAccounts ?? []).map((s) => ({ ...s })),
    extensions: [],
  };
}

/** The Authorization message istiod sends for a policy (resource name: `<namespace>/<name>`). */
export function toAuthorization(policy: L4Policy): Authorization {
  return Authorization.create({
    name: policy.name,
    namespace: policy.namespace,
    scope: SCOPES[policy.scope],
    action: policy.action === 'DENY' ? Action.DENY : Action.ALLOW,
    dryRun: policy.dryRun,
    rules: policy.rules.map((r) => ({ clauses: r.clauses.map((c) => ({ matches: c.matches.map(toWireMatch) })) })),
    extensions: [],
  });
}

export interface FromAuthorizationResult {
  policy: L4Policy;
  /** What ztunnel would silently skip: unparsable addresses, unset string matches, truncated ports. */
  warnings: string[];
}

function fromWireString(m: WireStringMatch): StringMatch | undefined {
  // Decoded messages say which oneof member is set; hand-built ones only carry the member itself.
  const set = (k: 'exact' | 'prefix' | 'suffix' | 'presence') =>
    Object.hasOwn(m, k) && m[k] !== undefined && m[k] !== null;
  const kind = m.matchType ?? (['exact', 'prefix', 'suffix', 'presence'] as const).find(set);
  switch (kind) {
    case 'exact':
      return { kind: 'exact', value: m.exact ?? '' };
    case 'prefix':
      return { kind: 'prefix', value: m.prefix ?? '' };
    case 'suffix':
      return { kind: 'suffix', value: m.suffix ?? '' };
    case 'presence':
      return { kind: 'presence', value: '' };
    default:
      return undefined;
  }
}

/**
 * The engine's model of a received Authorization, with ztunnel's leniency: unparsable addresses and StringMatches
 * without a value are dropped (each with a warning), ports are truncated to 16 bits. Unknown scope or action values
 * throw ERR_AUTHZ_INVALID_XDS, as ztunnel rejects them.
 */
export function fromAuthorization(message: Authorization): FromAuthorizationResult {
  const warnings: string[] = [];
  const key = `${message.namespace}/${message.name}`;
  if (!message.name) throw new AuthzError('ERR_AUTHZ_INVALID_XDS', 'Authorization without a name');
  const scope = (Object.keys(SCOPES) as L4Scope[]).find((s) => SCOPES[s] === message.scope);
  if (!scope) throw new AuthzError('ERR_AUTHZ_INVALID_XDS', `${key}: unknown scope ${String(message.scope)}`);
  if (message.action !== Action.ALLOW && message.action !== Action.DENY) {
    throw new AuthzError('ERR_AUTHZ_INVALID_XDS', `${key}: unknown action ${String(message.action)}`);
  }
  const strings = (list: readonly WireStringMatch[] | undefined, field: string) =>
    (list ?? []).flatMap((m) => {
      const s = fromWireString(m);
      if (!s) warnings.push(`${key}: a ${field} StringMatch has no value and is skipped`);
      return s ? [s] : [];
    });
  const addresses = (list: readonly Address[] | undefined, field: string) =>
    (list ?? []).flatMap((a) => {
      const c = cidrFromBytes(a.address, a.length);
      if (!c)
        warnings.push(
          `${key}: ${field} entry (${a.address.length} bytes, /${a.length}) is not a valid CIDR and is skipped`,
        );
      return c ? [c.text] : [];
    });
  const ports = (list: readonly number[] | undefined, field: string) =>
    (list ?? []).map((p) => {
      if (p > 65535) warnings.push(`${key}: ${field} ${p} does not fit 16 bits; ztunnel reads it as ${p & 0xffff}`);
      return p & 0xffff;
    });
  const compact = (m: L4Match): L4Match =>
    Object.fromEntries(Object.entries(m).filter(([, v]) => (v as unknown[]).length > 0)) as L4Match;
  const policy: L4Policy = {
    name: message.name,
    namespace: message.namespace,
    scope,
    action: message.action === Action.DENY ? 'DENY' : 'ALLOW',
    dryRun: message.dryRun,
    rules: (message.rules ?? []).map((r, i) => ({
      sourceRule: i,
      clauses: (r.clauses ?? []).map((c) => ({
        matches: (c.matches ?? []).map((m) =>
          compact({
            namespaces: strings(m.namespaces, 'namespaces'),
            notNamespaces: strings(m.notNamespaces, 'notNamespaces'),
            principals: strings(m.principals, 'principals'),
            notPrincipals: strings(m.notPrincipals, 'notPrincipals'),
            sourceIps: addresses(m.sourceIps, 'sourceIps'),
            notSourceIps: addresses(m.notSourceIps, 'notSourceIps'),
            destinationIps: addresses(m.destinationIps, 'destinationIps'),
            notDestinationIps: addresses(m.notDestinationIps, 'notDestinationIps'),
            destinationPorts: ports(m.destinationPorts, 'destinationPorts'),
            notDestinationPorts: ports(m.notDestinationPorts, 'notDestinationPorts'),
            serviceAccounts: (m.serviceAccounts ?? []).map((s) => ({
              namespace: s.namespace,
              serviceAccount: s.serviceAccount,
            })),
            notServiceAccounts: (m.notServiceAccounts ?? []).map((s) => ({
              namespace: s.namespace,
              serviceAccount: s.serviceAccount,
            })),
          }),
        ),
      })),
    })),
  };
  return { policy, warnings };
}

/** The xDS resource name of a policy. */
export const authorizationResourceName = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/**
 * Applies one received Authorization resource to ztunnel's index (an xDS upsert). Returns ztunnel's warnings about
 * entries it skipped; throws ERR_AUTHZ_INVALID_XDS for a resource ztunnel would reject (NACK it).
 */
export function applyAuthorization(index: L4PolicyIndex, message: Authorization): string[] {
  const { policy, warnings } = fromAuthorization(message);
  index.upsert(policy);
  return warnings;
}
