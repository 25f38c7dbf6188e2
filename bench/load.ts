/**
 * Load throughput, all against one Redis started here (AOF on, appendfsync everysec), in one run:
 *   1. the project's loader: parse (streamed from the CSV file) + storeDataset, into an empty database
 *      (each record a RESTORE of a hash payload built by the loader);
 *   2. the same loader forced to its HSET fallback (what it does where the server fails its RESTORE check);
 *   3. the loader replacing the loaded dataset (RESTORE ... REPLACE over existing hashes, stale ones removed);
 *   4. a naive loop awaiting one HSET per record (records parsed beforehand: parsing not counted);
 *   5. `redis-benchmark -P 64`: HSET of a 9-field record, as many requests as records, random keys.
 * The contenders take turns for ROUNDS rounds, each round starting with another one, and each
 * keeps its best round (the machine may be shared: a busy neighbour slows a round, never speeds
 * one up); the naive loop, slow and far from its target, runs NAIVE_ROUNDS times. Besides
 * wall-clock rates it records CPU time per record, of this process and of redis-server, which
 * noise disturbs less, and what Redis spent per command (INFO commandstats) in the loader's last round.
 * Also: parse-only speed of the CSV and the course JSON, and Redis `used_memory` per record
 * after a load, split into the record hashes, the id set and the column snapshot (measured by
 * deleting them in turn), on the server as the project runs it (the id set an intset) and once
 * more with Redis' default set-max-intset-entries (the id set a hashtable).
 *
 *   npx tsx bench/load.ts
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRedis, closeRedis, type Redis, idAt, textAt, keys, SNAPSHOT_COLUMNS } from '@meteorites/shared';
import { RedisServer } from '@meteorites/tools';
import { parseDataset, storeDataset, type InputFormat, type ParsedDataset } from '@meteorites/dataset';
import { fullDataset } from '@meteorites/test-utils/env';

const ROUNDS = 5;
/** The naive loop is slow and far from its target: fewer rounds. */
const NAIVE_ROUNDS = 2;

const TARGETS = { vs_redis_benchmark: 0.5, vs_naive: 5 };
/** Redis' own set-max-intset-entries, for the comparison with the project's setting. */
const REDIS_DEFAULT_INTSET_ENTRIES = 512;

interface Round {
  records_per_s: number;
  /** CPU microseconds per record: this process, and redis-server (all its threads). */
  node_cpu_us: number;
  redis_cpu_us: number;
  /** For the loader: seconds parsing, and storing (Redis works only in the second). */
  parse_s?: number;
  store_s?: number;
}

async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]);
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** The AOF rewritten small first, so that no automatic rewrite (a fork) falls inside a measurement. */
async function quiet(redis: Redis): Promise<void> {
  await redis.bgRewriteAof();
  while (/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(await redis.info('persistence'))) await sleep(20);
}

async function measure(redis: Redis, records: number, fn: () => Promise<Partial<Round> | void>): Promise<Round> {
  await quiet(redis);
  await redis.configResetStat();
  const redis0 = await redisCpu(redis);
  const node0 = process.cpuUsage();
  const t = performance.now();
  const extra = await fn();
  const seconds = (performance.now() - t) / 1000;
  const node = process.cpuUsage(node0);
  const redisSeconds = (await redisCpu(redis)) - redis0;
  return {
    records_per_s: Math.round(records / seconds),
    node_cpu_us: Number(((node.user + node.system) / records).toFixed(2)),
    redis_cpu_us: Number(((redisSeconds * 1e6) / records).toFixed(2)),
    ...extra,
  };
}

/** Per command that took Redis time since the last CONFIG RESETSTAT: calls per record and Redis' microseconds per record. */
async function commandCosts(redis: Redis, records: number): Promise<Record<string, { calls_per_record: number; us_per_record: number }>> {
  const out: Record<string, { calls_per_record: number; us_per_record: number }> = {};
  for (const m of (await redis.info('commandstats')).matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) {
    const [, name, calls, usec] = m;
    const us = Number(usec) / records;
    if (us >= 0.01) out[name!] = { calls_per_record: Number((Number(calls) / records).toFixed(4)), us_per_record: Number(us.toFixed(2)) };
  }
  return out;
}

/**
 * Redis memory a load adds, per record, and its parts: the snapshot keys and the id set are
 * deleted in turn and the drop of used_memory measured; the rest is the record hashes (with
 * their share of the keyspace's own hash table).
 */
async function memoryPerRecord(redis: Redis, records: number, load: () => Promise<{ version: number }>) {
  // A first load after the server started leaves a few bytes per record more (tables still being
  // resized); measured is the second, as every load after it is.
  await load();
  await redis.flushAll();
  await quiet(redis);
  const empty = await usedMemory(redis);
  const { version } = await load();
  const loaded = await usedMemory(redis);
  await redis.del(SNAPSHOT_COLUMNS.map((column) => keys.snapshot(version, column)));
  const withoutSnapshot = await usedMemory(redis);
  await redis.del(keys.meteoriteIds);
  const hashesOnly = await usedMemory(redis);
  const perRecord = (bytes: number) => Number((bytes / records).toFixed(1));
  return {
    bytes_per_record: perRecord(loaded - empty),
    hashes: perRecord(hashesOnly - empty),
    id_set: perRecord(withoutSnapshot - hashesOnly),
    snapshot: perRecord(loaded - withoutSnapshot),
  };
}

const best = (rounds: Round[]): Round => rounds.reduce((a, b) => (b.records_per_s > a.records_per_s ? b : a));

function naiveFields(p: ParsedDataset, i: number): Record<string, string> {
  const c = p.columns;
  const h: Record<string, string> = { name: c.name.at(i), id: idAt(c, i) };
  const [nametype, recclass, fall] = [textAt(c.nametype, i), textAt(c.recclass, i), textAt(c.fall, i)];
  if (nametype !== null) h.nametype = nametype;
  if (recclass !== null) h.recclass = recclass;
  if (!Number.isNaN(c.mass[i])) h.mass_g = String(c.mass[i]);
  if (fall !== null) h.fall = fall;
  if (!Number.isNaN(c.year[i])) h.year = String(c.year[i]);
  if (!Number.isNaN(c.lat[i])) h.reclat = String(c.lat[i]);
  if (!Number.isNaN(c.lon[i])) h.reclong = String(c.lon[i]);
  return h;
}

function redisBenchmark(port: number, n: number): number {
  const out = execFileSync(
    'redis-benchmark',
    [
      '-p',
      String(port),
      '-P',
      '64',
      '-n',
      String(n),
      '-r',
      String(n),
      '-q',
      'HSET',
      'meteorite:__rand_int__',
      'name',
      'Aachen',
      'id',
      '1',
      'nametype',
      'Valid',
      'recclass',
      'L5',
      'mass_g',
      '21',
      'fall',
      'Fell',
      'year',
      '1880',
      'reclat',
      '50.775',
      'reclong',
      '6.08333',
    ],
    { encoding: 'utf8' },
  );
  const found = [...out.matchAll(/([\d.]+) requests per second/g)].at(-1);
  if (!found) throw new Error(`no "requests per second" in redis-benchmark's output: ${out.slice(-300)}`);
  return Number(found[1]);
}

async function main(): Promise<void> {
  const files = fullDataset();
  const dir = mkdtempSync(join(tmpdir(), 'bench-load-'));
  // No automatic AOF rewrite: the script rewrites before each measurement itself, and a rewrite's
  // fork inside one would also stop Redis from resizing its hash tables while it runs.
  const server = new RedisServer({ dataDir: dir, appendfsync: 'everysec', extraArgs: ['--auto-aof-rewrite-percentage', '0'] });
  await server.start();
  const redis = await connectRedis(server.url);
  try {
    const parse = (file: string, format: InputFormat) => parseDataset(createReadStream(file, { highWaterMark: 256 * 1024 }), format);
    const load = async (hashWrites?: 'hset') => {
      const t = performance.now();
      const p = await parse(files.csv, 'csv');
      const parsed_at = performance.now();
      const stored = await storeDataset(redis, p, { source: 'bench', hashWrites });
      return {
        ...stored,
        parse_s: Number(((parsed_at - t) / 1000).toFixed(3)),
        store_s: Number(((performance.now() - parsed_at) / 1000).toFixed(3)),
      };
    };
    const timed = (hashWrites?: 'hset') => async () => {
      const { parse_s, store_s } = await load(hashWrites);
      return { parse_s, store_s };
    };
    const parsed = await parse(files.csv, 'csv');
    const n = parsed.columns.length;
    console.log(`${n} records (${parsed.skipped.length} skipped) from ${files.csv}`);
    console.log(`${ROUNDS} rounds, best kept; ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)} at the start`);

    const rounds = {
      loader: [] as Round[],
      loader_hset: [] as Round[],
      loader_replace: [] as Round[],
      naive: [] as Round[],
      redis_benchmark: [] as Round[],
    };
    let commands: Awaited<ReturnType<typeof commandCosts>> = {};
    const turns: (() => Promise<void>)[] = [
      async () => {
        await redis.flushAll();
        rounds.loader.push(await measure(redis, n, timed()));
        commands = await commandCosts(redis, n);
        rounds.loader_replace.push(await measure(redis, n, timed()));
      },
      async () => {
        await redis.flushAll();
        rounds.loader_hset.push(await measure(redis, n, timed('hset')));
      },
      async () => {
        await redis.flushAll();
        let rps = 0;
        const r = await measure(redis, n, async () => {
          rps = redisBenchmark(server.port, n);
        });
        // redis-benchmark's own count is the rate; its process start-up is not Redis' work.
        rounds.redis_benchmark.push({ ...r, records_per_s: Math.round(rps), node_cpu_us: 0 });
      },
    ];
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with another contender, so that none always follows the same one.
      for (let t = 0; t < turns.length; t++) await turns[(round + t) % turns.length]!();
      if (round < NAIVE_ROUNDS) {
        await redis.flushAll();
        rounds.naive.push(
          await measure(redis, n, async () => {
            for (let i = 0; i < n; i++) await redis.hSet(keys.meteorite(idAt(parsed.columns, i)), naiveFields(parsed, i));
          }),
        );
      }
    }

    const parseRates = {} as Record<InputFormat, Round & { mb_per_s: number }>;
    for (const [format, file] of [
      ['csv', files.csv],
      ['json', files.json],
    ] as const) {
      const runs: Round[] = [];
      for (let i = 0; i < ROUNDS; i++) runs.push(await measure(redis, n, async () => void (await parse(file, format))));
      const b = best(runs);
      parseRates[format] = { ...b, redis_cpu_us: 0, mb_per_s: Number(((statSync(file).size / 1e6) * (b.records_per_s / n)).toFixed(1)) };
    }

    // The server as the project runs it: the id set an intset (set-max-intset-entries, see redis-server.ts).
    const memory = await memoryPerRecord(redis, n, () => load());
    // And as Redis' own default has it (512): a set of more integers than that is a hashtable.
    const [intsetSetting, projectSetting] = Object.entries(await redis.configGet('set-max-intset-entries'))[0]!;
    await redis.configSet(intsetSetting, String(REDIS_DEFAULT_INTSET_ENTRIES));
    const memoryHashtable = await memoryPerRecord(redis, n, () => load());
    await redis.configSet(intsetSetting, projectSetting);

    const top = {
      loader: best(rounds.loader),
      loader_hset: best(rounds.loader_hset),
      loader_replace: best(rounds.loader_replace),
      naive: best(rounds.naive),
      redis_benchmark: best(rounds.redis_benchmark),
    };
    const vsBench = top.loader.records_per_s / top.redis_benchmark.records_per_s;
    const hsetVsBench = top.loader_hset.records_per_s / top.redis_benchmark.records_per_s;
    const vsNaive = top.loader.records_per_s / top.naive.records_per_s;
    const line = (name: string, r: Round) =>
      `${name.padEnd(48)} ${String(r.records_per_s).padStart(9)} ${r.node_cpu_us ? r.node_cpu_us.toFixed(1).padStart(9) : '-'.padStart(9)} ${r.redis_cpu_us ? r.redis_cpu_us.toFixed(1).padStart(9) : '-'.padStart(9)}`;
    console.log(`\n${'what'.padEnd(48)} ${'records/s'.padStart(9)} ${'node µs'.padStart(9)} ${'redis µs'.padStart(9)}   (CPU per record)`);
    console.log(line('loader: parse CSV + store, empty database', top.loader));
    console.log(line('loader, HSET fallback: the same', top.loader_hset));
    console.log(line('loader: parse CSV + store, replacing', top.loader_replace));
    console.log(line('naive: one awaited HSET per record', top.naive));
    console.log(line('redis-benchmark -P 64 HSET (9 fields)', top.redis_benchmark));
    console.log(line('parse only: CSV', parseRates.csv));
    console.log(line('parse only: course JSON', parseRates.json));
    const verdict = vsBench >= TARGETS.vs_redis_benchmark ? 'met' : 'NOT MET';
    console.log(
      `\nloader / redis-benchmark: ${vsBench.toFixed(2)} (target >= ${TARGETS.vs_redis_benchmark}) ${verdict}; with HSET: ${hsetVsBench.toFixed(2)}`,
    );
    console.log(
      `loader / naive:           ${vsNaive.toFixed(1)} (target >= ${TARGETS.vs_naive}) ${vsNaive >= TARGETS.vs_naive ? 'met' : 'NOT MET'}`,
    );
    console.log(`loader, best round: parse ${top.loader.parse_s} s, store ${top.loader.store_s} s`);
    const perCommand = Object.entries(commands).map(([name, c]) => `${name} ${c.calls_per_record} calls, ${c.us_per_record} µs`);
    console.log(`Redis per record in a load: ${perCommand.join('; ')}`);
    const parts = (m: typeof memory) => `hashes ${m.hashes}, id set ${m.id_set}, snapshot ${m.snapshot}`;
    console.log(`Redis used_memory per record: ${memory.bytes_per_record} B (${parts(memory)})`);
    console.log(
      `  with Redis' default set-max-intset-entries (${REDIS_DEFAULT_INTSET_ENTRIES}): ${memoryHashtable.bytes_per_record} B (${parts(memoryHashtable)})`,
    );

    mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
    writeFileSync(
      fileURLToPath(new URL('./results/load.json', import.meta.url)),
      `${JSON.stringify(
        {
          benchmark: 'load',
          date: new Date().toISOString(),
          node: process.version,
          redis: /redis_version:(\S+)/.exec(await redis.info('server'))?.[1],
          cpus: cpus().length,
          load_average: Number(loadavg()[0]!.toFixed(1)),
          records: n,
          best: top,
          parse: parseRates,
          ratios: {
            vs_redis_benchmark: Number(vsBench.toFixed(3)),
            hset_vs_redis_benchmark: Number(hsetVsBench.toFixed(3)),
            vs_naive: Number(vsNaive.toFixed(2)),
          },
          targets: TARGETS,
          redis_commands: commands,
          memory: { ...memory, with_hashtable_id_set: memoryHashtable },
          rounds,
        },
        null,
        2,
      )}\n`,
    );
    console.log('wrote bench/results/load.json');
  } finally {
    await closeRedis(redis);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
