/**
 * `GET /meteorites/{id}` requests/s of the real app (random ids of the full dataset, logging off)
 * against a bare Fastify hello-world, with the same autocannon settings in the same run.
 * Each server runs in a child process of its own so autocannon never shares its event loop.
 *
 *   npx tsx bench/api.ts
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { loadConfig, connectRedis, closeRedis, type Redis } from '@meteorites/shared';
import { RedisServer } from '@meteorites/tools';
import { parseDataset, storeDataset } from '@meteorites/dataset';
import { fullDataset } from '@meteorites/test-utils/env';

const CONNECTIONS = 50;
const DURATION_S = 5;
const WARMUP_S = 1;
/** Rounds alternate the two servers; the median round's ratio resists other load on a shared machine. */
const ROUNDS = 3;
const TARGET_RATIO = 0.5;
const self = fileURLToPath(import.meta.url);

type Kind = 'app' | 'hello';

/** Child side: start one server on a free loopback port and report the port. */
async function serve(kind: Kind, redisUrl: string): Promise<void> {
  let close: () => Promise<void>;
  let port: number;
  if (kind === 'hello') {
    const hello = Fastify({ logger: false });
    hello.get('/', async () => ({ hello: 'world' }));
    await hello.listen({ host: '127.0.0.1', port: 0 });
    port = (hello.server.address() as { port: number }).port;
    close = () => hello.close();
  } else {
    const { buildApp } = await import('@meteorites/api');
    const app = await buildApp({ config: loadConfig({ REDIS_URL: redisUrl, LOG_LEVEL: 'silent' }) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    close = () => app.close();
  }
  process.send!({ port });
  process.on('message', () => process.send!({ cpuUs: cpuMicros(process.cpuUsage()) }));
  process.once('disconnect', () => void close().then(() => process.exit(0)));
}

const cpuMicros = (u: NodeJS.CpuUsage) => u.user + u.system;

/** CPU time a server child has used so far, in µs. */
async function childCpu(child: ChildProcess): Promise<number> {
  child.send('cpu');
  const [message] = (await once(child, 'message')) as [{ cpuUs: number }];
  return message.cpuUs;
}

/** CPU time redis-server has used so far, in µs. */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return Math.round((seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6);
}

async function startServer(kind: Kind, redisUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(self, ['serve', kind, redisUrl], { stdio: 'inherit' });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, url: `http://127.0.0.1:${message.port}` };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.disconnect();
  await exited;
}

interface Measured {
  requests_per_s: number;
  /** Server CPU (the Node process, plus redis-server for the app) per answered request: unlike req/s, barely moved by other load. */
  cpu_us_per_request: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  requests: number;
  non_2xx: number;
  errors: number;
}

async function measure(url: string, path: () => string, cpu: () => Promise<number>): Promise<Measured> {
  const run = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      requests: [{ setupRequest: (req) => ({ ...req, path: path() }) }],
    });
  await run(WARMUP_S);
  const cpuBefore = await cpu();
  const r = await run(DURATION_S);
  const cpuUs = (await cpu()) - cpuBefore;
  return {
    requests_per_s: Math.round(r.requests.average),
    cpu_us_per_request: Math.round(cpuUs / Math.max(1, r.requests.total)),
    latency_p50_ms: r.latency.p50,
    latency_p99_ms: r.latency.p99,
    requests: r.requests.total,
    non_2xx: r.non2xx,
    errors: r.errors,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-api-'));
  const redis = new RedisServer({ dataDir: dir, appendfsync: 'everysec' });
  await redis.start();
  try {
    const csv = fullDataset().csv;
    const parsed = await parseDataset(createReadStream(csv), 'csv');
    const client = await connectRedis(redis.url);
    await storeDataset(client, parsed, { source: 'bench' });
    const ids = parsed.columns.id;
    const randomPath = () => `/meteorites/${ids[Math.floor(Math.random() * ids.length)]}`;
    console.log(
      `loaded ${ids.length} records; autocannon: ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s, ` +
        `random ids; ${ROUNDS} rounds; load average ${loadavg()[0]!.toFixed(1)}`,
    );

    const rounds: Record<Kind, Measured[]> = { hello: [], app: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] = round % 2 === 0 ? ['hello', 'app'] : ['app', 'hello'];
      for (const kind of order) {
        const { child, url } = await startServer(kind, redis.url);
        try {
          const probe = await fetch(`${url}${kind === 'app' ? randomPath() : '/'}`);
          if (probe.status !== 200) throw new Error(`${kind} answered ${probe.status} to the probe`);
          const cpu = kind === 'app' ? async () => (await childCpu(child)) + (await redisCpu(client)) : () => childCpu(child);
          rounds[kind].push(await measure(url, kind === 'app' ? randomPath : () => '/', cpu));
        } finally {
          await stopServer(child);
        }
      }
    }
    // Each round measures both servers back to back, so its ratio is the fair comparison; report the median round.
    const ratios = rounds.app.map((m, i) => m.requests_per_s / rounds.hello[i]!.requests_per_s);
    const mid = ratios.map((r, i) => [r, i] as const).sort((a, b) => a[0] - b[0])[Math.floor(ROUNDS / 2)]![1];
    const results = { hello: rounds.hello[mid]!, app: rounds.app[mid]! };
    const ratio = ratios[mid]!;
    // The same comparison in server CPU per request (hello's cost / the app's), which other load hardly moves.
    const cpuRatios = rounds.app.map((m, i) => rounds.hello[i]!.cpu_us_per_request / m.cpu_us_per_request);
    const cpuRatio = [...cpuRatios].sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
    const cols = (...v: (string | number)[]) => v.map((x, i) => (i === 0 ? String(x).padEnd(24) : String(x).padStart(10))).join(' ');
    const row = (name: string, m: Measured) =>
      cols(name, m.requests_per_s, m.latency_p50_ms, m.latency_p99_ms, m.cpu_us_per_request, m.non_2xx + m.errors);
    console.log(`\n${cols('server', 'req/s', 'p50 ms', 'p99 ms', 'cpu µs/req', 'failed')}`);
    console.log(row('Fastify hello-world', results.hello));
    console.log(row('GET /meteorites/{id}', results.app));
    console.log(`ratio per round: ${ratios.map((r) => r.toFixed(2)).join(' ')} (the table shows the median round)`);
    console.log(
      `\nratio app / hello-world: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? 'OK' : 'BELOW TARGET'}`,
    );
    console.log(
      `CPU-cost ratio hello-world / app (incl. redis-server): ${cpuRatio.toFixed(2)} (per round: ${cpuRatios.map((r) => r.toFixed(2)).join(' ')})`,
    );
    if (rounds.app.some((m) => m.non_2xx + m.errors > 0)) console.log('warning: the app answered some requests with an error');

    const out = fileURLToPath(new URL('./results/api.json', import.meta.url));
    mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          benchmark: 'api',
          date: new Date().toISOString(),
          node: process.version,
          cpus: cpus().length,
          load_average: Number(loadavg()[0]!.toFixed(2)),
          records: ids.length,
          connections: CONNECTIONS,
          duration_s: DURATION_S,
          rounds: ROUNDS,
          rounds_requests_per_s: {
            hello_world: rounds.hello.map((m) => m.requests_per_s),
            meteorite_by_id: rounds.app.map((m) => m.requests_per_s),
          },
          rounds_ratio: ratios.map((r) => Number(r.toFixed(3))),
          hello_world: results.hello,
          meteorite_by_id: results.app,
          ratio: Number(ratio.toFixed(3)),
          cpu_cost_ratio: Number(cpuRatio.toFixed(3)),
          target_ratio: TARGET_RATIO,
        },
        null,
        2,
      )}\n`,
    );
    console.log('wrote bench/results/api.json');
    await closeRedis(client);
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Kind, process.argv[4]!);
else await main();
