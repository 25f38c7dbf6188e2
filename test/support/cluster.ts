/**
 * A Redis Cluster as local processes, for the cluster tests and the queue bench: three masters
 * and three replicas (`redis-server --cluster-enabled yes`), each on a free port with its own
 * data dir in one temp dir the cluster removes on close, joined by `redis-cli --cluster create`.
 * A short cluster-node-timeout makes a failover take seconds.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer } from '@meteorites/tools';
import { closeRedis, connectRedis, freePort, type Redis, CLUSTER_HASH_TAG, slotOf } from '@meteorites/shared';

const run = promisify(execFile);

export interface ClusterOptions {
  /** cluster-node-timeout: how long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
}

export interface TestCluster {
  /** Every node, masters and replicas, as started (a killed one stays in the list). */
  nodes: RedisServer[];
  /** REDIS_CLUSTER_NODES for a process of the service: every node's address. */
  env: { REDIS_CLUSTER_NODES: string };
  /** The node that serves the service's slot now (the master owning `{meteorites}`), as a live node says. */
  slotMaster(): Promise<RedisServer>;
  /** Waits until every live node says the cluster is ok and names the same master, other than `old`, for the slot. */
  waitForFailover(old: RedisServer, timeoutMs?: number): Promise<RedisServer>;
  /** The live replica of `master`. */
  replicaOf(master: RedisServer): Promise<RedisServer>;
  /** A client of one node (no cluster routing), closed with the cluster. */
  client(node: RedisServer): Promise<Redis>;
  close(): Promise<void>;
}

/** Polls `check` until it returns a value other than undefined. */
async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`cluster: ${what} within ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ''}`);
    await sleep(100);
  }
}

/** The port of the master a node says owns `slot`, from its CLUSTER SLOTS. */
async function ownerPort(c: Redis, slot: number): Promise<number | undefined> {
  const ranges = (await c.sendCommand(['CLUSTER', 'SLOTS'])) as [number, number, [string, number, ...unknown[]]][];
  const range = ranges.find(([from, to]) => slot >= Number(from) && slot <= Number(to));
  return range ? Number(range[2][1]) : undefined;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'meteorites-cluster-'));
  const clients: Redis[] = [];
  const nodes: RedisServer[] = [];
  const client = async (node: RedisServer) => {
    const c = await connectRedis(node.url, { connectTimeoutMs: 5000, commandTimeoutMs: 2000, name: 'test' });
    clients.push(c);
    return c;
  };
  const close = async () => {
    await Promise.all(clients.splice(0).map((c) => closeRedis(c, 1000)));
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  const slot = slotOf(`{${CLUSTER_HASH_TAG}}`);
  try {
    for (let i = 0; i < 6; i++) {
      // The cluster bus port is the node's port + 10000 unless named: a port nobody checked, which
      // another test's server or an outgoing connection may hold (a node then exits at start).
      const busPort = await freePort();
      nodes.push(
        new RedisServer({
          dataDir: join(dir, `node-${i}`),
          extraArgs: [
            ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort)],
            ...['--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 1000)],
            // A replica of a master that died a moment ago may take over at once (no data-age limit).
            ...['--cluster-replica-validity-factor', '0'],
            ...['--repl-diskless-sync-delay', '0'],
          ],
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
    const admins = await Promise.all(nodes.map(client));
    // Every node must know the whole layout (gossip takes a moment after create) and its replicas synced.
    await poll('the cluster did not come up', 30_000, async () => {
      for (const c of admins) {
        if (!/cluster_state:ok/.test(String(await c.sendCommand(['CLUSTER', 'INFO'])))) return undefined;
        if ((await ownerPort(c, slot)) === undefined) return undefined;
        const repl = await c.info('replication');
        if (/role:slave/.test(repl) && !/master_link_status:up/.test(repl)) return undefined;
      }
      return true;
    });
    const byPort = (port: number) => nodes.find((n) => n.port === port)!;
    const live = () => admins.filter((_, i) => nodes[i]!.running);
    const slotMaster = async () => byPort((await ownerPort(live()[0]!, slot))!);
    return {
      nodes,
      env: { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(',') },
      slotMaster,
      waitForFailover: (old, timeoutMs = 30_000) =>
        poll('no replica took over the slot', timeoutMs, async () => {
          const owners = new Set<number | undefined>();
          for (const c of live()) {
            if (!/cluster_state:ok/.test(String(await c.sendCommand(['CLUSTER', 'INFO'])))) return undefined;
            owners.add(await ownerPort(c, slot));
          }
          const [port] = [...owners];
          if (owners.size !== 1 || port === undefined || port === old.port) return undefined;
          const promoted = byPort(port);
          return /role:master/.test(await admins[nodes.indexOf(promoted)]!.info('replication')) ? promoted : undefined;
        }),
      replicaOf: (master) =>
        poll(`no replica of ${master.port}`, 10_000, async () => {
          for (const [i, c] of admins.entries()) {
            if (!nodes[i]!.running) continue;
            const repl = await c.info('replication');
            if (new RegExp(`master_port:${master.port}\\b`).test(repl) && /master_link_status:up/.test(repl)) return nodes[i];
          }
          return undefined;
        }),
      client,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
