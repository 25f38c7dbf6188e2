/**
 * 10,000 no-op jobs through this project's queue, Bee-Queue 2 and BullMQ 6 on one Redis (started
 * here, AOF everysec), at concurrency 1 and 20, in the same run: enqueue rate (10,000 single adds
 * issued at once; each client pipelines them) and processing rate (from the worker's start until
 * the last job is recorded as finished). Leases are on everywhere: our JOB_LEASE_MS 30 s with
 * recovery every 5 s, Bee-Queue's stall heartbeat with checkStalledJobs every 5 s, BullMQ's
 * 30 s locks and stalled checks. Our queue runs through its real Worker with a no-op handler.
 * The contenders take turns for three rounds and each figure is the best of its rounds, so a
 * burst of load from elsewhere on the machine does not decide a ratio.
 *
 *   npx tsx bench/queue.ts
 *
 * With `--min-replicas-ack N` the Redis gets a replica and our queue runs twice, as is and with
 * REDIS_MIN_REPLICAS_ACK=N (a WAIT after each enqueue, as POST /jobs does, and after each settle,
 * as the worker does), instead of against the other queues: the cost of that setting. Results go
 * to bench/results/queue-replicas-ack.json.
 *
 * With `--cluster` our queue runs on one Redis and on a local Redis Cluster (three masters, three
 * replicas; REDIS_CLUSTER_NODES, so every key carries the hash tag and one master serves the
 * queue) in turns: what cluster mode costs. Results go to bench/results/queue-cluster.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BeeQueue from 'bee-queue';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { pino } from 'pino';
import {
  loadConfig,
  closeRedis,
  connectRedis,
  routeOf,
  UNTIMED,
  type Redis,
  CLUSTER_HASH_TAG,
  useHashTag,
  JobQueue,
  confirmReplicas,
} from '@meteorites/shared';
import { startCluster, type TestCluster } from '@meteorites/test-utils/cluster';
import { RedisServer } from '@meteorites/tools';
import { Worker } from '@meteorites/worker';

const JOBS = 10_000;
const WARMUP_JOBS = 500;
/** Rounds per concurrency, the contenders taking turns; each figure is the best of its rounds. */
const ROUNDS = 3;
const CONCURRENCIES = [1, 20];
const TARGETS = { 'bee-queue': 1.2, bullmq: 1.5 } as const;

interface Contender {
  name: 'this queue' | 'this queue + WAIT' | 'this queue, cluster' | 'bee-queue' | 'bullmq';
  /** The server its runs are flushed on (default: the one Redis). */
  admin?: Redis;
  /** Adds n no-op jobs; resolves when all are stored. */
  enqueue(n: number): Promise<void>;
  /** Starts a worker at the given concurrency; resolves when n jobs are finished, after closing it. */
  process(n: number, concurrency: number): Promise<void>;
}

function counter(n: number): { tick(): void; done: Promise<void> } {
  let left = n;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  return {
    tick() {
      if (--left === 0) resolve();
    },
    done,
  };
}

/**
 * node-redis arms a 5 s AbortSignal timer per command by default, which fires even after the reply;
 * the worker turns it off on its hot path, and so does this producer.
 */
const fast = (redis: Redis) => redis.withCommandOptions(UNTIMED) as unknown as Redis;

function ours(url: string, minReplicasAck = 0, cluster?: TestCluster): Contender {
  const env = cluster ? cluster.env : { REDIS_URL: url };
  const config = { ...loadConfig(env), LOG_LEVEL: 'silent' as const, REDIS_MIN_REPLICAS_ACK: minReplicasAck };
  // Key names are per process (keys.ts): each contender puts its own on before it runs.
  const names = () => useHashTag(cluster ? CLUSTER_HASH_TAG : undefined);
  return {
    name: cluster ? 'this queue, cluster' : minReplicasAck > 0 ? 'this queue + WAIT' : 'this queue',
    async enqueue(n) {
      names();
      const redis = await connectRedis(config.REDIS_URL!, routeOf(config));
      const q = new JobQueue(fast(redis));
      const base = Date.now();
      // No deadline on the WAITs, as on the producer's other commands: the 10,000 calls go out at once,
      // and a WAIT waits behind every enqueue sent before it.
      const confirm = () => confirmReplicas(redis, { ...config, REDIS_COMMAND_TIMEOUT_MS: 600_000 });
      await Promise.all(Array.from({ length: n }, (_, i) => q.enqueue('noop', { i, base }).then(confirm)));
      await closeRedis(redis);
    },
    async process(n, concurrency) {
      names();
      const c = counter(n);
      const worker = new Worker({
        config: { ...config, WORKER_CONCURRENCY: concurrency },
        logger: pino({ level: 'silent' }),
        handler: () => async () => ({ result: '{}', datasetVersion: 0 }),
        onJobEnd: () => c.tick(),
      });
      await worker.start();
      await c.done;
      await worker.close();
    },
  };
}

function beeQueue(url: string): Contender {
  const settings = { redis: { url }, getEvents: false };
  return {
    name: 'bee-queue',
    async enqueue(n) {
      const q = new BeeQueue('bench', { ...settings, isWorker: false });
      await q.ready();
      await Promise.all(Array.from({ length: n }, (_, i) => q.createJob({ i }).save()));
      await q.close();
    },
    async process(n, concurrency) {
      const q = new BeeQueue('bench', { ...settings, isWorker: true, stallInterval: 30_000 });
      const c = counter(n);
      q.on('succeeded', () => c.tick());
      await q.ready();
      void q.checkStalledJobs(5000);
      q.process(concurrency, async () => ({}));
      await c.done;
      await q.close();
    },
  };
}

function bullmq(url: string): Contender {
  return {
    name: 'bullmq',
    async enqueue(n) {
      const connection = new IORedis(url, { maxRetriesPerRequest: null });
      const q = new BullQueue('bench', { connection });
      await Promise.all(Array.from({ length: n }, (_, i) => q.add('noop', { i })));
      await q.close();
      connection.disconnect();
    },
    async process(n, concurrency) {
      const connection = new IORedis(url, { maxRetriesPerRequest: null });
      const c = counter(n);
      const worker = new BullWorker('bench', async () => ({}), { connection, concurrency, autorun: false });
      worker.on('completed', () => c.tick());
      await worker.waitUntilReady();
      void worker.run();
      await c.done;
      await worker.close();
      connection.disconnect();
    },
  };
}

interface Row {
  queue: Contender['name'];
  concurrency: number;
  enqueue_per_s: number;
  process_per_s: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-queue-'));
  const ackAt = process.argv.indexOf('--min-replicas-ack');
  const cluster = process.argv.includes('--cluster') ? await startCluster() : undefined;
  const minReplicasAck = ackAt < 0 ? 0 : Number(process.argv[ackAt + 1]);
  const server = new RedisServer({ dataDir: join(dir, 'primary'), appendfsync: 'everysec' });
  await server.start();
  const replicas = Array.from(
    { length: minReplicasAck },
    (_, i) => new RedisServer({ dataDir: join(dir, `replica-${i}`), extraArgs: ['--replicaof', '127.0.0.1', String(server.port)] }),
  );
  for (const replica of replicas) await replica.start();
  const admin = await connectRedis(server.url);
  // WAIT with every replica connected: a replica still in its first sync would time every call out.
  while (minReplicasAck > 0 && ((await admin.info('replication')).match(/state=online/g)?.length ?? 0) < minReplicasAck) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const clusterAdmin = cluster ? await connectRedis((await cluster.slotMaster()).url) : undefined;
  const rows: Row[] = [];
  const runs: (Row & { round: number })[] = [];
  try {
    const others = cluster
      ? [{ ...ours(server.url, 0, cluster), admin: clusterAdmin }]
      : minReplicasAck > 0
        ? [ours(server.url, minReplicasAck)]
        : [beeQueue(server.url), bullmq(server.url)];
    const contenders = [ours(server.url), ...others];
    const setup =
      (minReplicasAck > 0 ? `, ${minReplicasAck} replica(s), REDIS_MIN_REPLICAS_ACK=${minReplicasAck}` : '') +
      (cluster ? `; and a cluster of 3 masters + 3 replicas, ${cluster.env.REDIS_CLUSTER_NODES}` : '');
    console.log(`${JOBS} no-op jobs per run, Redis ${server.url} (AOF everysec${setup}), node ${process.version}, ${cpus().length} cpus`);
    for (const c of contenders) {
      await c.enqueue(WARMUP_JOBS);
      await c.process(WARMUP_JOBS, 1);
    }
    for (const concurrency of CONCURRENCIES) {
      const best = new Map<Contender['name'], Row>();
      for (let round = 1; round <= ROUNDS; round++) {
        for (const c of contenders) {
          await (c.admin ?? admin).flushAll();
          const t0 = performance.now();
          await c.enqueue(JOBS);
          const t1 = performance.now();
          await c.process(JOBS, concurrency);
          const t2 = performance.now();
          const enqueue = Math.round(JOBS / ((t1 - t0) / 1000));
          const process = Math.round(JOBS / ((t2 - t1) / 1000));
          console.log(
            `  round ${round} ${c.name.padEnd(11)} c=${String(concurrency).padEnd(3)} enqueue ${enqueue}/s, process ${process}/s`,
          );
          runs.push({ round, queue: c.name, concurrency, enqueue_per_s: enqueue, process_per_s: process });
          const prev = best.get(c.name);
          best.set(c.name, {
            queue: c.name,
            concurrency,
            enqueue_per_s: Math.max(enqueue, prev?.enqueue_per_s ?? 0),
            process_per_s: Math.max(process, prev?.process_per_s ?? 0),
          });
        }
      }
      rows.push(...best.values());
    }
  } finally {
    await closeRedis(admin);
    await closeRedis(clusterAdmin);
    await cluster?.close();
    for (const replica of replicas) await replica.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const ratios: Record<string, { enqueue: number; process: number; target: number; ok: boolean }> = {};
  console.log(
    `\n${'queue'.padEnd(12)} ${'conc'.padStart(4)} ${'enqueue/s'.padStart(10)} ${'process/s'.padStart(10)}   ours ÷ it (process, enqueue)`,
  );
  for (const row of rows) {
    const mine = rows.find((r) => r.queue === 'this queue' && r.concurrency === row.concurrency)!;
    let note = '';
    if (row.queue === 'this queue + WAIT' || row.queue === 'this queue, cluster') {
      const ratio = (a: number, b: number) => (a / b).toFixed(2);
      const of = row.queue === 'this queue + WAIT' ? 'this queue without WAIT' : 'this queue on one Redis';
      note = `${ratio(row.process_per_s, mine.process_per_s)}, ${ratio(row.enqueue_per_s, mine.enqueue_per_s)} of ${of}`;
    } else if (row.queue !== 'this queue') {
      const target = TARGETS[row.queue];
      const process = mine.process_per_s / row.process_per_s;
      const enqueue = mine.enqueue_per_s / row.enqueue_per_s;
      ratios[`${row.queue}@${row.concurrency}`] = { enqueue: round(enqueue), process: round(process), target, ok: process >= target };
      note = `${process.toFixed(2)} (target >= ${target} ${process >= target ? 'OK' : 'BELOW TARGET'}), ${enqueue.toFixed(2)}`;
    }
    console.log(
      `${row.queue.padEnd(12)} ${String(row.concurrency).padStart(4)} ${String(row.enqueue_per_s).padStart(10)} ${String(row.process_per_s).padStart(10)}   ${note}`,
    );
  }

  const ack = minReplicasAck > 0 ? { min_replicas_ack: minReplicasAck } : {};
  const name = cluster ? 'queue-cluster' : minReplicasAck > 0 ? 'queue-replicas-ack' : 'queue';
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(
    fileURLToPath(new URL(`./results/${name}.json`, import.meta.url)),
    `${JSON.stringify({ benchmark: 'queue', date: new Date().toISOString(), node: process.version, cpus: cpus().length, jobs: JOBS, rows, ratios, runs, ...ack }, null, 2)}\n`,
  );
  console.log(`wrote bench/results/${name}.json`);
}

const round = (x: number) => Math.round(x * 100) / 100;

await main();
