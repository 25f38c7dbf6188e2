/**
 * Redis Cluster. Every key of the service carries one hash tag in cluster mode (keys.ts,
 * CLUSTER_HASH_TAG), so the whole keyspace is one slot and one master, the slot's, serves every
 * command: scripts, MULTI, multi-key commands, blocking pops, the event stream and pub/sub work
 * as on one server, and the clients stay the plain clients the code speaks (redis/relay.ts says
 * why not node-redis' createCluster()). This module finds that master: it asks the nodes it knows
 * (the seeds, then every node a reply named) which master owns the slot, for every new connection
 * through the relay, so a connection opened after a failover reaches the promoted replica. A
 * connection left on a node that no longer owns the slot gets MOVED (or CLUSTERDOWN while the
 * cluster votes), on which redis/guard.ts closes it.
 */
import { ServiceError } from './errors.ts';
import type { Config } from './config.ts';
import { parseHostPorts, query, type Discovery, type HostPort } from './redis/relay.ts';

/** The hash tag every key has in cluster mode (`{meteorites}job:...`). */
export const CLUSTER_HASH_TAG = 'meteorites';

export interface ClusterTarget {
  /** Seed nodes (REDIS_CLUSTER_NODES); any node of the cluster, master or replica, can answer. */
  nodes: HostPort[];
  /** The slot of the service's keys. */
  slot: number;
  username?: string;
  password?: string;
  /** TLS (REDIS_URL is rediss://): the masters' TLS ports are used. */
  tls?: boolean;
}

export class ClusterError extends ServiceError {
  override name = 'ClusterError';
  override readonly code = 'cluster_unavailable';
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** The slot (0..16383) Redis Cluster gives `key`: only the part between the first `{` and the next `}` counts, when not empty. */
export function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed, 'utf8')) % 16384;
}

/** The cluster settings of `config`, or undefined when it names no REDIS_CLUSTER_NODES. */
export function clusterOf(config: Pick<Config, 'REDIS_CLUSTER_NODES' | 'REDIS_URL'>): ClusterTarget | undefined {
  if (!config.REDIS_CLUSTER_NODES) return undefined;
  const url = config.REDIS_URL ? new URL(config.REDIS_URL) : undefined;
  return {
    nodes: parseHostPorts(config.REDIS_CLUSTER_NODES),
    slot: slotOf(`{${CLUSTER_HASH_TAG}}`),
    username: url?.username ? decodeURIComponent(url.username) : undefined,
    password: url?.password ? decodeURIComponent(url.password) : undefined,
    tls: url?.protocol === 'rediss:',
  };
}

/** What a node says about the slot: its master (when one serves it), and every node the reply named. */
export interface SlotAnswer {
  master?: HostPort;
  known: HostPort[];
}

/** A node's address as a reply gives it: an empty, `?` or null endpoint means "the host you asked". */
const endpoint = (value: unknown, asked: HostPort): string =>
  typeof value === 'string' && value !== '' && value !== '?' ? value : asked.host;

/**
 * CLUSTER SLOTS (RESP2): `[[from, to, [host, port, id, ...], [replica...]...], ...]`; the master is
 * the first node of a range. Says nothing of health: a dead master stays named until its replica
 * takes over, and the relay's connection to it then fails and is retried.
 */
export function parseClusterSlots(reply: unknown, slot: number, asked: HostPort): SlotAnswer {
  if (!Array.isArray(reply)) throw new ClusterError('CLUSTER SLOTS gave no list');
  const known: HostPort[] = [];
  let master: HostPort | undefined;
  for (const range of reply as unknown[][]) {
    const [from, to, ...nodes] = range;
    const hosts = (nodes as unknown[][]).map((n) => ({ host: endpoint(n[0], asked), port: Number(n[1]) }));
    known.push(...hosts);
    if (slot >= Number(from) && slot <= Number(to)) master = hosts[0];
  }
  return { master, known };
}

/** A RESP2 map (flat `[name, value, ...]` list) as an object. */
function fields(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Array.isArray(list)) for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

/**
 * CLUSTER SHARDS (Redis 7+, RESP2): per shard `slots` (from, to pairs) and `nodes`, each with its
 * `endpoint` (or `ip`), `port`, `tls-port`, `role` and `health`. The slot's master is its shard's
 * node with role master and health online, so a master the cluster knows is dead is not named.
 */
export function parseClusterShards(reply: unknown, slot: number, asked: HostPort, tls = false): SlotAnswer {
  if (!Array.isArray(reply)) throw new ClusterError('CLUSTER SHARDS gave no list');
  const known: HostPort[] = [];
  let master: HostPort | undefined;
  for (const shard of reply) {
    const s = fields(shard);
    const slots = (Array.isArray(s.slots) ? s.slots : []).map(Number);
    const nodes = (Array.isArray(s.nodes) ? s.nodes : []).map(fields);
    const address = (n: Record<string, unknown>) => ({
      host: endpoint(n.endpoint ?? n.ip, asked),
      port: Number(tls && n['tls-port'] !== undefined ? n['tls-port'] : n.port),
    });
    known.push(...nodes.filter((n) => n.health !== 'failed').map(address));
    let owns = false;
    for (let i = 0; i + 1 < slots.length; i += 2) if (slot >= slots[i]! && slot <= slots[i + 1]!) owns = true;
    if (!owns) continue;
    const primary = nodes.find((n) => n.role === 'master' && n.health === 'online');
    if (primary) master = address(primary);
  }
  return { master, known };
}

/** Asks one node; CLUSTER SLOTS when it does not know CLUSTER SHARDS (before Redis 7). */
async function askNode(node: HostPort, target: ClusterTarget): Promise<SlotAnswer> {
  const auth = target.password ? [target.username ? ['AUTH', target.username, target.password] : ['AUTH', target.password]] : [];
  const replies = await query(node, [...auth, ['CLUSTER', 'SHARDS']], target.tls);
  if (replies[0] instanceof Error && auth.length) throw replies[0];
  const shards = replies.at(-1);
  if (!(shards instanceof Error)) return parseClusterShards(shards, target.slot, node, target.tls);
  if (/^ERR (unknown|Unknown)/.test(shards.message)) {
    const slots = (await query(node, [...auth, ['CLUSTER', 'SLOTS']], target.tls)).at(-1);
    if (slots instanceof Error) throw slots;
    return parseClusterSlots(slots, target.slot, node);
  }
  throw shards;
}

const same = (a: HostPort, b: HostPort) => a.host === b.host && a.port === b.port;

/**
 * The master of the service's slot: the nodes are asked in turn (the one that answered last time
 * first) until one names it; every node a reply named is added to the nodes asked, so the seeds
 * may all be gone later.
 */
export async function askCluster(target: ClusterTarget): Promise<HostPort> {
  const failures: string[] = [];
  for (const node of [...target.nodes]) {
    try {
      const answer = await askNode(node, target);
      for (const k of answer.known) if (!target.nodes.some((n) => same(n, k))) target.nodes.push(k);
      if (!answer.master) throw new ClusterError(`no master serves slot ${target.slot}`);
      target.nodes.splice(target.nodes.indexOf(node), 1);
      target.nodes.unshift(node);
      return answer.master;
    } catch (err) {
      failures.push(`${node.host}:${node.port}: ${(err as Error).message}`);
    }
  }
  throw new ClusterError(`no cluster node named the master of slot ${target.slot} (${failures.join('; ')})`);
}

/** Where a relay sends connections in cluster mode: the master of the service's slot. */
export function clusterDiscovery(target: ClusterTarget): Discovery {
  const seeds = target.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  return {
    key: JSON.stringify(['cluster', seeds, target.slot, target.username ?? '', target.password ?? '', target.tls ?? false]),
    locate: () => askCluster(target),
    describe: () => `the master of slot ${target.slot} ({${CLUSTER_HASH_TAG}}) in the cluster of ${seeds}`,
  };
}
