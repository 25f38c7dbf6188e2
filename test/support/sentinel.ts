/**
 * A Redis Sentinel set as local processes, for the failover tests: one primary, one replica and
 * three `redis-server --sentinel`, each on a free port, all in one temp dir the set removes on
 * close. The Sentinels watch the primary with short timeouts, so a failover takes seconds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer } from '@meteorites/tools';
import { freePort, closeRedis, connectRedis, type Redis, askSentinels, type HostPort, type SentinelTarget } from '@meteorites/shared';

export const MASTER_NAME = 'meteorites';

export interface SentinelSetOptions {
  /** Sentinel's down-after-milliseconds: how long the primary may be silent before it is down. */
  downAfterMs?: number;
  /** Sentinel's failover-timeout. */
  failoverTimeoutMs?: number;
}

export interface SentinelSet {
  /** The two data nodes: [0] starts as the primary, [1] as its replica. */
  nodes: [RedisServer, RedisServer];
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER for a process of the service. */
  env: { REDIS_SENTINELS: string; REDIS_SENTINEL_MASTER: string };
  target(): SentinelTarget;
  /** The node the Sentinels name as primary now. */
  primary(): Promise<RedisServer>;
  /** Waits until the Sentinels name another node than `old` as primary, and that node says it is one. */
  waitForFailover(old: RedisServer, timeoutMs?: number): Promise<RedisServer>;
  /**
   * Starts a killed node again, on its port and data, as the replica of `primary`: what a
   * supervisor (a Redis operator, a chart's init step) does after asking the Sentinels. Left to
   * the Sentinels, a node that comes back as a primary is turned into a replica only after 8 to
   * 20 s (they wait 4 hello periods, and ask a replica for its role every 10 s).
   */
  restartAsReplica(node: RedisServer, primary: RedisServer): Promise<RedisServer>;
  /** A client of one node, closed with the set. */
  client(node: RedisServer): Promise<Redis>;
  close(): Promise<void>;
}

/** Polls `check` until it returns a value other than undefined. */
async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch {
      // not there yet
    }
    if (Date.now() > end) throw new Error(`sentinel set: ${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function startSentinelSet(opts: SentinelSetOptions = {}): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'meteorites-sentinel-'));
  const clients: Redis[] = [];
  const sentinels: ChildProcess[] = [];
  // Redis waits 5 s by default before a full sync, for more replicas to share it: not here.
  const NO_SYNC_DELAY = ['--repl-diskless-sync-delay', '0'];
  const primary = new RedisServer({ dataDir: join(dir, 'node-0'), extraArgs: NO_SYNC_DELAY });
  await primary.start();
  const replica = new RedisServer({
    dataDir: join(dir, 'node-1'),
    extraArgs: [...NO_SYNC_DELAY, '--replicaof', '127.0.0.1', String(primary.port)],
  });
  await replica.start();
  const nodes: [RedisServer, RedisServer] = [primary, replica];
  const client = async (node: RedisServer) => {
    const c = await connectRedis(node.url, { connectTimeoutMs: 5000, name: 'test' });
    clients.push(c);
    return c;
  };
  const ports: number[] = [];
  const close = async () => {
    await Promise.all(clients.splice(0).map((c) => closeRedis(c, 1000)));
    await Promise.all(
      sentinels.map(async (s) => {
        if (s.exitCode === null && s.signalCode === null) {
          s.kill('SIGKILL');
          await once(s, 'exit');
        }
      }),
    );
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const admin = await client(replica);
    await poll('the replica did not sync', 30_000, async () =>
      /master_link_status:up/.test(await admin.info('replication')) ? true : undefined,
    );
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const home = join(dir, `sentinel-${i}`);
      mkdirSync(home);
      const conf = join(home, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${home}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${MASTER_NAME} ${opts.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      sentinels.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
      ports.push(port);
    }
    const env = { REDIS_SENTINELS: ports.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_MASTER: MASTER_NAME };
    const target = (): SentinelTarget => ({ sentinels: ports.map((port) => ({ host: '127.0.0.1', port })), master: MASTER_NAME });
    // A failover needs every Sentinel to know the replica and the other Sentinels (via hello messages).
    for (const port of ports) {
      const s = await connectRedis(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 10_000, name: 'test' });
      clients.push(s);
      await poll(`the Sentinel on ${port} did not see the replica and both other Sentinels`, 30_000, async () => {
        const info = await s.sendCommand(['INFO', 'sentinel']);
        return /slaves=1,sentinels=3/.test(String(info)) ? true : undefined;
      });
    }
    const byAddress = (addr: HostPort) => nodes.find((n) => n.port === addr.port)!;
    return {
      nodes,
      env,
      target,
      client,
      primary: async () => byAddress(await askSentinels(target())),
      waitForFailover: (old, timeoutMs = 30_000) =>
        poll('no other primary', timeoutMs, async () => {
          const now = byAddress(await askSentinels(target()));
          if (now === old) return undefined;
          const c = await connectRedis(now.url, { connectTimeoutMs: 1000 });
          try {
            return /role:master/.test(await c.info('replication')) ? now : undefined;
          } finally {
            await closeRedis(c, 500);
          }
        }),
      restartAsReplica: async (node, primaryNode) => {
        const i = nodes.indexOf(node);
        const fresh = new RedisServer({
          dataDir: node.dataDir,
          port: node.port,
          extraArgs: [...NO_SYNC_DELAY, '--replicaof', '127.0.0.1', String(primaryNode.port)],
        });
        await fresh.start();
        nodes[i] = fresh;
        return fresh;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
