/**
 * The SSRF guard of webhook URLs (issue 19): a webhook makes the server send requests to an
 * address an administrator typed, so an address inside the operator's network (loopback,
 * private, link-local — cloud metadata at 169.254.169.254 —, CGNAT, multicast, unspecified,
 * documentation ranges, and IPv4-mapped/NAT64 IPv6 forms of those) is refused unless
 * WEBHOOK_ALLOWED_HOSTS names it. The check runs at create/update and again at every delivery,
 * and the request connects to exactly the addresses checked (a custom `lookup`), so a DNS answer
 * that changes between check and connect (rebinding) gains nothing.
 *
 * Plain http is allowed only to hosts WEBHOOK_ALLOWED_HOSTS names (receivers the operator
 * vouched for) or everywhere with WEBHOOK_ALLOW_HTTP=true; public receivers need https.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface WebhookNetworkPolicy {
  /** WEBHOOK_ALLOWED_HOSTS: `host`, `host:port`, an address or a CIDR range. */
  readonly allowedHosts: readonly string[];
  /** WEBHOOK_ALLOW_HTTP: plain http to any (public) host. */
  readonly allowHttp: boolean;
}

/** Why a URL is refused (the message names no internals beyond what the admin typed). */
export class UrlRefusedError extends Error {
  override readonly name = 'UrlRefusedError';
}

const refused = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  refused.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  refused.addSubnet(net, bits, 'ipv6');
}

/** The IPv4 address embedded in an IPv4-mapped (::ffff:a.b.c.d), -compatible or NAT64 address. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:(?:0:)?|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1] && isIP(dotted[1]) === 4) return dotted[1];
  const hex = /^(?:::ffff:(?:0:)?|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex?.[1] && hex[2]) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

/** True for an address no webhook may reach unless allowed. */
export function isRefusedAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return refused.check(address, 'ipv4');
  if (version !== 6) return true;
  const v4 = embeddedIpv4(address);
  if (v4 !== null) return refused.check(v4, 'ipv4');
  return refused.check(address, 'ipv6');
}

interface AllowList {
  hosts: Set<string>;
  ranges: BlockList;
}

function bracketless(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Parses WEBHOOK_ALLOWED_HOSTS entries; throws on an entry that is none of the accepted forms. */
export function parseAllowedHosts(entries: readonly string[]): AllowList {
  const hosts = new Set<string>();
  const ranges = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const [address = '', bits, ...rest] = entry.split('/');
    const version = isIP(bracketless(address));
    if (bits !== undefined) {
      const n = Number(bits);
      if (rest.length > 0 || version === 0 || !/^\d{1,3}$/.test(bits) || n > (version === 4 ? 32 : 128)) {
        throw new Error(`WEBHOOK_ALLOWED_HOSTS: "${raw}" is not a host, host:port or CIDR range`);
      }
      ranges.addSubnet(bracketless(address), n, version === 4 ? 'ipv4' : 'ipv6');
      continue;
    }
    if (version !== 0) {
      ranges.addAddress(bracketless(address), version === 4 ? 'ipv4' : 'ipv6');
      continue;
    }
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(entry)) {
      throw new Error(`WEBHOOK_ALLOWED_HOSTS: "${raw}" is not a host, host:port or CIDR range`);
    }
    hosts.add(entry);
  }
  return { hosts, ranges };
}

function inRanges(list: AllowList, address: string): boolean {
  const version = isIP(address);
  if (version === 0) return false;
  return list.ranges.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

export interface CheckedTarget {
  url: URL;
  /** The addresses to connect to (all checked). */
  addresses: { address: string; family: 4 | 6 }[];
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

/** The system's resolver, given at most 5 s (a slow DNS must not hold a request or a lease). */
const systemResolver: Resolver = (host) => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('DNS timeout')), 5000);
    timer.unref();
  });
  return Promise.race([dnsLookup(host, { all: true, verbatim: true }), timeout]).finally(() => clearTimeout(timer));
};

/**
 * Checks `text` against the policy and resolves it; throws UrlRefusedError with a short reason.
 * Every resolved address must be public, or the host (or the address) allowed.
 */
export async function checkWebhookUrl(
  text: string,
  policy: WebhookNetworkPolicy,
  resolve: Resolver = systemResolver,
): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UrlRefusedError('not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UrlRefusedError('only http(s) URLs are allowed');
  if (url.username !== '' || url.password !== '') throw new UrlRefusedError('credentials in the URL are not allowed');
  const allow = parseAllowedHosts(policy.allowedHosts);
  const host = url.hostname.toLowerCase();
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const hostAllowed = allow.hosts.has(host) || allow.hosts.has(`${host}:${port}`);
  const bare = bracketless(host);
  let addresses: { address: string; family: number }[];
  if (isIP(bare) !== 0) addresses = [{ address: bare, family: isIP(bare) }];
  else {
    try {
      addresses = await resolve(bare);
    } catch {
      throw new UrlRefusedError(`the host ${host} does not resolve`);
    }
  }
  if (addresses.length === 0) throw new UrlRefusedError(`the host ${host} does not resolve`);
  const allAllowed = hostAllowed || addresses.every((a) => inRanges(allow, a.address));
  if (!allAllowed) {
    const bad = addresses.find((a) => isRefusedAddress(a.address) && !inRanges(allow, a.address));
    if (bad) {
      throw new UrlRefusedError(
        `${host} resolves to a private, loopback or reserved address (${bad.address}); allow it with WEBHOOK_ALLOWED_HOSTS`,
      );
    }
  }
  if (url.protocol === 'http:' && !policy.allowHttp && !allAllowed) {
    throw new UrlRefusedError(
      'plain http is allowed only to hosts in WEBHOOK_ALLOWED_HOSTS (or WEBHOOK_ALLOW_HTTP=true)',
    );
  }
  return {
    url,
    addresses: addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
  };
}
