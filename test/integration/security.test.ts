/**
 * Who gets in, against real Redis servers: API keys on every route the OpenAPI document lists
 * (refusals write nothing), rate limits counted in Redis and shared by two API instances, Redis
 * with a password and over TLS for the API, a worker process and the bulk loader (a wrong password
 * fails at once without printing it), and the security headers, with Swagger UI still working
 * under its Content-Security-Policy (in headless Chromium when it is installed).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { runToExit } from '@meteorites/test-utils/process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { checkedFetch } from '@meteorites/test-utils/response-check';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import type { App } from '@meteorites/api';
import { connectRedis, closeRedis, freePort, RedisRejectedError, type Redis, keys } from '@meteorites/shared';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SAMPLE = readFileSync(join(root, 'data/sample.json'));
const OPENAPI = JSON.parse(readFileSync(join(root, 'openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, { security?: Record<string, string[]>[]; responses?: Record<string, { content?: object }> }>>;
};

const KEY = `key-${randomBytes(16).toString('hex')}`;
const OTHER_KEY = `other-${randomBytes(16).toString('hex')}`;

interface Operation {
  method: string;
  path: string;
  /** Needs the key whenever API_KEY is set (writes), or only with API_KEY_PROTECT_READS (reads). */
  access: 'write' | 'read';
  /** Answers Server-Sent Events: the response stays open once it is admitted. */
  stream: boolean;
}

/** Every documented operation that can be protected, from the committed OpenAPI document. */
const operations: Operation[] = Object.entries(OPENAPI.paths).flatMap(([path, ops]) =>
  Object.entries(ops)
    .filter(([, op]) => op.security !== undefined)
    .map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      access: op.security!.some((s) => Object.keys(s).length === 0) ? ('read' as const) : ('write' as const),
      stream: Object.keys(op.responses?.['200']?.content ?? {}).includes('text/event-stream'),
    })),
);

/** A request for an operation: path parameters filled in, a valid body where one is needed. */
function request(op: Operation, headers: Record<string, string> = {}): InjectOptions {
  const url = op.path.replace(/\{id\}/g, op.path.startsWith('/meteorites') ? '1' : randomUUID());
  const method = op.method as InjectOptions['method'];
  if (op.method === 'POST' && op.path === '/data')
    return { method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: SAMPLE };
  if (op.method === 'POST' && op.path === '/jobs') return { method, url, headers, payload: { analysis: 'mass-by-class' } };
  return { method, url, headers };
}

/** What a refused request must not change. */
async function redisState(db: Redis) {
  return { keys: await db.dbSize(), dataset: await db.hGetAll(keys.dataset), jobs: await db.zCard(keys.jobsAll) };
}

function expectUnauthorized(res: LightMyRequestResponse, name: string, invalidToken: boolean): void {
  expect(res.statusCode, name).toBe(401);
  expect(res.json().error.code, name).toBe('unauthorized');
  expect(res.headers['www-authenticate'], name).toBe(
    invalidToken ? 'Bearer realm="meteorites", error="invalid_token"' : 'Bearer realm="meteorites"',
  );
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys (API_KEY)', () => {
  let redis: TestRedis;
  let db: Redis;
  let app: App;
  let readsProtected: App;
  let open: App;

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    [app, readsProtected, open] = await Promise.all([
      buildTestApp(redis.url, { API_KEY: `${KEY},${OTHER_KEY}` }),
      buildTestApp(redis.url, { API_KEY: KEY, API_KEY_PROTECT_READS: true }),
      buildTestApp(redis.url),
    ]);
    const loaded = await app.inject(request({ method: 'POST', path: '/data', access: 'write', stream: false }, bearer(KEY)));
    expect(loaded.statusCode).toBe(201);
  });
  afterAll(async () => {
    await Promise.all([app?.close(), readsProtected?.close(), open?.close()]);
    await redis?.close();
  });

  it('the OpenAPI document lists the routes that change state as needing the key', () => {
    const writes = operations.filter((o) => o.access === 'write').map((o) => `${o.method} ${o.path}`);
    expect(writes.sort()).toEqual(['DELETE /data', 'DELETE /jobs/{id}', 'POST /data', 'POST /jobs']);
    expect(operations.filter((o) => o.access === 'read').length).toBeGreaterThanOrEqual(10);
  });

  it('every POST and DELETE answers 401 without the key, with a wrong one or another scheme, and writes nothing', async () => {
    const before = await redisState(db);
    const attempts: [string, Record<string, string>, boolean][] = [
      ['no header', {}, false],
      ['a wrong key', bearer(`key-${randomBytes(16).toString('hex')}`), true],
      ['the key with a character more', bearer(`${KEY}x`), true],
      ['the key less its last character', bearer(KEY.slice(0, -1)), true],
      ['both keys as one', bearer(`${KEY},${OTHER_KEY}`), true],
      ['Basic with the key', { authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` }, false],
      ['the key without a scheme', { authorization: KEY }, false],
    ];
    for (const op of operations.filter((o) => o.access === 'write')) {
      for (const [what, headers, invalidToken] of attempts) {
        expectUnauthorized(await app.inject(request(op, headers)), `${op.method} ${op.path}, ${what}`, invalidToken);
      }
    }
    expect(await redisState(db)).toEqual(before);
  });

  it('accepts every configured key, the scheme in any case', async () => {
    for (const headers of [bearer(KEY), bearer(OTHER_KEY), { authorization: `bearer ${KEY}` }, { authorization: `BEARER ${OTHER_KEY}` }]) {
      const res = await app.inject({
        method: 'POST',
        url: '/jobs',
        headers,
        payload: { analysis: 'heaviest', params: { n: 1 + Math.floor(Math.random() * 900) } },
      });
      expect([200, 202], headers.authorization.slice(0, 10)).toContain(res.statusCode);
    }
  });

  it('leaves reads open unless API_KEY_PROTECT_READS is on', async () => {
    for (const op of operations.filter((o) => o.access === 'read')) {
      // An admitted event stream never ends by itself: its head is enough, then it is dropped.
      const res = await app.inject({ ...request(op), payloadAsStream: op.stream });
      expect(res.statusCode, `${op.method} ${op.path}`).not.toBe(401);
      if (op.stream) res.stream().destroy();
    }
  });

  it('with API_KEY_PROTECT_READS every documented route (GET and HEAD too) needs the key', async () => {
    const before = await redisState(db);
    for (const op of operations) {
      expectUnauthorized(await readsProtected.inject(request(op)), `${op.method} ${op.path}`, false);
      expectUnauthorized(
        await readsProtected.inject(request(op, bearer(OTHER_KEY))),
        `${op.method} ${op.path} with a key of another deployment`,
        true,
      );
      if (op.method === 'GET')
        expect((await readsProtected.inject({ ...request(op), method: 'HEAD' })).statusCode, `HEAD ${op.path}`).toBe(401);
    }
    expect(await redisState(db)).toEqual(before);
    const summary = await readsProtected.inject({ url: '/data/summary', headers: bearer(KEY) });
    expect(summary.statusCode).toBe(200);
    expect(summary.json().records).toBeGreaterThan(0);
  });

  it('keeps the probes and the documentation open, also with API_KEY_PROTECT_READS', async () => {
    for (const url of ['/health', '/ready', '/openapi.json', '/docs/', '/docs/json', '/docs/static/swagger-ui-bundle.js']) {
      expect((await readsProtected.inject(url)).statusCode, url).toBe(200);
    }
  });

  it('asks for no key when API_KEY is unset (the default)', async () => {
    const res = await open.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'mass-by-fall' } });
    expect([200, 202]).toContain(res.statusCode);
    expect((await open.inject('/data/summary')).statusCode).toBe(200);
  });
});

describe('rate limits (RATE_LIMIT_JOBS_PER_MIN, RATE_LIMIT_DATA_PER_MIN)', () => {
  const JOBS = 5;
  const LOADS = 2;
  let redis: TestRedis;
  let db: Redis;
  /** Two API instances on one Redis, as behind a load balancer. */
  let apis: App[];
  let behindProxy: App;
  let unlimited: App;
  let n = 0;
  /** A job nobody asked for before, so every accepted one is new (202, not a dedup 200). */
  const job = () => ({ analysis: 'heaviest', params: { n: ++n } });

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    const limits = { RATE_LIMIT_JOBS_PER_MIN: JOBS, RATE_LIMIT_DATA_PER_MIN: LOADS };
    apis = await Promise.all([buildTestApp(redis.url, limits), buildTestApp(redis.url, limits)]);
    behindProxy = await buildTestApp(redis.url, { ...limits, TRUST_PROXY: '127.0.0.1' });
    unlimited = await buildTestApp(redis.url);
  });
  afterAll(async () => {
    await Promise.all([...(apis ?? []).map((a) => a.close()), behindProxy?.close(), unlimited?.close()]);
    await redis?.close();
  });

  it(`POST /jobs: ${JOBS} a minute per client across two API instances, then 429 with Retry-After; refused jobs are not created`, async () => {
    const jobsBefore = await db.zCard(keys.jobsAll);
    const answers: LightMyRequestResponse[] = [];
    for (let i = 0; i < JOBS + 3; i++) answers.push(await apis[i % 2]!.inject({ method: 'POST', url: '/jobs', payload: job() }));
    expect(answers.map((a) => a.statusCode)).toEqual([...Array(JOBS).fill(202), 429, 429, 429]);
    for (const refused of answers.slice(JOBS)) {
      expect(refused.json().error.code).toBe('rate_limited');
      const retryAfter = Number(refused.headers['retry-after']);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${refused.headers['retry-after']}`).toBe(
        true,
      );
      expect(refused.headers['x-ratelimit-limit']).toBe(String(JOBS));
      expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    }
    expect(answers[0]!.headers['x-ratelimit-remaining']).toBe(String(JOBS - 1));
    expect(await db.zCard(keys.jobsAll)).toBe(jobsBefore + JOBS);
    const ttl = await db.pTTL(keys.rateLimit('jobs', '127.0.0.1'));
    expect(ttl > 0 && ttl <= 60_000).toBe(true);
    console.log(
      `rate limit ${JOBS}/min over 2 API instances: ${JOBS} accepted, ${answers.length - JOBS} refused with 429, Retry-After ${answers.at(-1)!.headers['retry-after']} s`,
    );
  });

  it('counts each client address on its own; X-Forwarded-For only counts with TRUST_PROXY', async () => {
    expect((await apis[0]!.inject({ method: 'POST', url: '/jobs', payload: job() })).statusCode).toBe(429);
    expect((await apis[0]!.inject({ method: 'POST', url: '/jobs', payload: job(), remoteAddress: '10.1.2.3' })).statusCode).toBe(202);
    const forwarded = { 'x-forwarded-for': '203.0.113.7' };
    // Without TRUST_PROXY a client cannot claim to be someone else to escape its limit.
    expect((await apis[1]!.inject({ method: 'POST', url: '/jobs', payload: job(), headers: forwarded })).statusCode).toBe(429);
    expect((await behindProxy.inject({ method: 'POST', url: '/jobs', payload: job(), headers: forwarded })).statusCode).toBe(202);
    expect(await db.get(keys.rateLimit('jobs', '203.0.113.7'))).toBe('1');
    // From an address that is not a trusted proxy, the header is ignored again.
    const untrusted = await behindProxy.inject({
      method: 'POST',
      url: '/jobs',
      payload: job(),
      headers: forwarded,
      remoteAddress: '10.1.2.3',
    });
    expect(untrusted.statusCode).toBe(202);
    expect(await db.get(keys.rateLimit('jobs', '10.1.2.3'))).toBe('2');
  });

  it('lets the client in again when its window ends', async () => {
    expect((await apis[0]!.inject({ method: 'POST', url: '/jobs', payload: job() })).statusCode).toBe(429);
    await db.pExpire(keys.rateLimit('jobs', '127.0.0.1'), 1); // the minute, passed
    await sleep(20);
    expect((await apis[1]!.inject({ method: 'POST', url: '/jobs', payload: job() })).statusCode).toBe(202);
  });

  it(`POST /data: ${LOADS} a minute; the next is refused before its body is read and loads nothing`, async () => {
    const post = (app: App) =>
      app.inject({ method: 'POST', url: '/data', headers: { 'content-type': 'application/json' }, payload: SAMPLE });
    const first = await post(apis[0]!);
    expect(first.statusCode).toBe(201);
    expect((await post(apis[1]!)).statusCode).toBe(201);
    const refused = await post(apis[0]!);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(await db.hGet(keys.dataset, 'version'))).toBe(first.json().version + 1);
  });

  it('is off at 0 (the default): no limit and no counter in Redis', async () => {
    const client = '10.9.9.9';
    const statuses = new Set<number>();
    for (let i = 0; i < JOBS * 3; i++)
      statuses.add((await unlimited.inject({ method: 'POST', url: '/jobs', payload: job(), remoteAddress: client })).statusCode);
    expect([...statuses]).toEqual([202]);
    expect(await db.exists(keys.rateLimit('jobs', client))).toBe(0);
  });

  it('answers 503 at once while Redis is down (not 500, never unlimited), and limits again when it is back', async (ctx) => {
    if (!redis.controllable) ctx.skip();
    await redis.stop();
    try {
      for (const [url, payload] of [
        ['/jobs', job()],
        ['/data', SAMPLE],
      ] as const) {
        const t0 = Date.now();
        const res = await apis[0]!.inject({
          method: 'POST',
          url,
          payload,
          headers: { 'content-type': 'application/json' },
          remoteAddress: '10.5.5.5',
        });
        expect(Date.now() - t0, url).toBeLessThan(1000);
        expect(res.statusCode, url).toBe(503);
        expect(res.json().error.code, url).toBe('redis_unavailable');
        expect(res.headers['retry-after'], url).toBe('1');
      }
    } finally {
      await redis.start();
    }
    const client = '10.6.6.6';
    // Both API processes reconnect on their own backoff: wait for each, or the second one's
    // requests would still be 503s that count nothing.
    for (const api of apis) {
      await expect
        .poll(async () => (await api.inject({ method: 'POST', url: '/jobs', payload: job(), remoteAddress: client })).statusCode, {
          timeout: 15_000,
        })
        .toBe(202);
    }
    const statuses = new Set<number>();
    for (let i = 0; i < JOBS; i++)
      statuses.add((await apis[1]!.inject({ method: 'POST', url: '/jobs', payload: job(), remoteAddress: client })).statusCode);
    expect([...statuses].sort()).toEqual([202, 429]);
    expect((await apis[0]!.inject({ method: 'POST', url: '/jobs', payload: job(), remoteAddress: client })).statusCode).toBe(429);
  });
});

/** The fields of the answers loadAndRun reads (POST /data, a job, a result); each absent where the answer has none. */
interface Answer {
  records?: number;
  id?: string;
  status?: string;
  groups?: unknown[];
}

/** POSTs the sample and one job through `base` (a listening API, or an app's inject), and waits for the job to finish. */
async function loadAndRun(
  call: (init: { method: string; url: string; body?: unknown; json?: boolean }) => Promise<{ status: number; body: Answer }>,
) {
  const loaded = await call({ method: 'POST', url: '/data', body: SAMPLE });
  expect(loaded.status, JSON.stringify(loaded.body)).toBe(201);
  const created = await call({ method: 'POST', url: '/jobs', body: { analysis: 'mass-by-class', params: { recclass: 'L6' } }, json: true });
  expect([200, 202]).toContain(created.status);
  const id = created.body.id!;
  let job = created.body;
  for (let i = 0; i < 6 && job.status !== 'finished'; i++) job = (await call({ method: 'GET', url: `/jobs/${id}?wait=10` })).body;
  expect(job.status, JSON.stringify(job)).toBe('finished');
  const result = await call({ method: 'GET', url: `/results/${id}` });
  expect(result.status).toBe(200);
  expect(result.body.groups?.length).toBeGreaterThan(0);
  return { loaded: loaded.body, result: result.body };
}

const viaInject = (app: App) => async (init: { method: string; url: string; body?: unknown; json?: boolean }) => {
  const res = await app.inject({
    method: init.method as InjectOptions['method'],
    url: init.url,
    ...(init.body === undefined ? {} : { payload: init.body as Buffer, headers: init.json ? {} : { 'content-type': 'application/json' } }),
  });
  return { status: res.statusCode, body: res.json() };
};

/** Runs a process to its end (or the timeout), with its output. */

describe('Redis with a password (requirepass)', () => {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const wrong = `wrong-${randomBytes(12).toString('hex')}`;
  let redis: TestRedis;
  let app: App;

  beforeAll(async () => {
    redis = await startRedis({ password });
    app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
  });
  afterAll(async () => {
    await app?.close();
    await killAllWorkers();
    await redis?.close();
  });

  it('the test server really needs the password (its url carries it)', async () => {
    expect(new URL(redis.url).password).toBe(password);
    await expect(connectRedis(redis.url.replace(`:${password}@`, '@'), { connectTimeoutMs: 20_000 })).rejects.toThrow(
      /refused to authenticate.*NOAUTH/,
    );
  });

  it('the API, a worker process and the bulk loader (its own raw connection) all authenticate', async () => {
    await spawnWorker(redis.url);
    const { loaded } = await loadAndRun(viaInject(app));
    expect(loaded.records).toBeGreaterThan(0);
    const db = await redis.client();
    const names = (await db.clientList()).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['api', 'api:events']));
    expect(names.some((name) => name.startsWith('worker'))).toBe(true);
  });

  it('a wrong password stops the API at start at once (not after the connect timeout), naming the problem, not the password', async () => {
    const url = redis.url.replace(password, wrong);
    const t0 = Date.now();
    const err = await buildTestApp(url, { REDIS_CONNECT_TIMEOUT_MS: 30_000 }).then(
      (a) => a.close().then(() => undefined),
      (e: unknown) => e as Error,
    );
    const ms = Date.now() - t0;
    console.log(`wrong Redis password: the API refused to start after ${ms} ms (connect timeout 30 s)`);
    expect(ms).toBeLessThan(5000);
    expect(err).toBeInstanceOf(RedisRejectedError);
    expect(err!.message).toMatch(/refused to authenticate.*WRONGPASS/);
    expect(err!.message).toContain(':***@');
    expect(err!.message).not.toContain(wrong);
    expect(err!.message).not.toContain(password);
  });

  it('a wrong password stops a worker process with exit code 1 and a message without the password', async () => {
    const { code, output } = await runToExit(['worker/src/main.ts'], {
      REDIS_URL: redis.url.replace(password, wrong),
      REDIS_CONNECT_TIMEOUT_MS: '600000',
    });
    expect(code).toBe(1);
    expect(output).toMatch(/worker could not start/);
    expect(output).toMatch(/refused to authenticate/);
    expect(output).not.toContain(wrong);
    expect(output).not.toContain(password);
  });
});

/** A throwaway self-signed certificate for 127.0.0.1, or why there is none. */
function selfSignedCert(dir: string): { cert: string; key: string } | string {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    return { cert, key };
  } catch (err) {
    return `openssl could not make a certificate: ${(err as Error).message}`;
  }
}

describe('Redis over TLS (rediss://)', () => {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  let dir: string;
  let redis: TestRedis | undefined;
  let tlsUrl: string;
  let cert: string;
  let unavailable: string | undefined;
  let api: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meteorites-tls-'));
    const made = selfSignedCert(dir);
    if (typeof made === 'string') {
      unavailable = made;
      return;
    }
    cert = made.cert;
    const tlsPort = await freePort();
    try {
      // The plain port stays open for the test's own checks; the service gets the TLS port only.
      redis = await startRedis({
        password,
        extraArgs: ['--tls-port', String(tlsPort), '--tls-cert-file', made.cert, '--tls-key-file', made.key, '--tls-auth-clients', 'no'],
      });
    } catch (err) {
      unavailable = `redis-server does not start with TLS (built without it?): ${(err as Error).message}`;
      return;
    }
    if (!redis.dataDir) unavailable = 'TLS needs the local redis-server (the container runs without the certificate)';
    tlsUrl = `rediss://:${password}@127.0.0.1:${tlsPort}`;
  });
  afterAll(async () => {
    api?.kill('SIGKILL');
    await killAllWorkers();
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the API, a worker and the bulk loader work over TLS once the CA is trusted (NODE_EXTRA_CA_CERTS)', async (ctx) => {
    if (unavailable) ctx.skip(unavailable);
    const port = await freePort();
    const env = { NODE_EXTRA_CA_CERTS: cert };
    api = spawn(process.execPath, ['--import', 'tsx', 'api/src/server.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, REDIS_URL: tlsUrl, PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    await spawnWorker(tlsUrl, env);
    const base = `http://127.0.0.1:${port}`;
    await expect
      .poll(
        () =>
          fetch(`${base}/ready`).then(
            (r) => r.status,
            () => 0,
          ),
        { timeout: 60_000, interval: 200 },
      )
      .toBe(200);
    await loadAndRun(async ({ method, url, body, json }) => {
      // The API runs in a child process here: its responses are checked against openapi.json on this side.
      const res = await checkedFetch(`${base}${url}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : json ? JSON.stringify(body) : (body as Buffer),
      });
      return { status: res.status, body: (await res.json()) as Answer };
    });
    // Every connection of the service came in on the TLS port.
    const db = await redis!.client();
    const service = (await db.clientList()).filter((c) => /^(api|worker)/.test(c.name));
    expect(service.length).toBeGreaterThanOrEqual(3);
    for (const c of service) expect(c.laddr, c.name).toBe(new URL(tlsUrl).host);
  });

  it('without the CA a process refuses the certificate at once, saying so', async (ctx) => {
    if (unavailable) ctx.skip(unavailable);
    const t0 = Date.now();
    const err = await connectRedis(tlsUrl, { connectTimeoutMs: 30_000 }).then(
      async (c) => {
        await closeRedis(c);
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(RedisRejectedError);
    expect(err!.message).toMatch(/TLS certificate.*NODE_EXTRA_CA_CERTS/);
    expect(err!.message).not.toContain(password);
  });
});

describe('security headers and Swagger UI under the CSP', () => {
  let redis: TestRedis;
  let app: App;

  beforeAll(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis.url, { API_KEY: KEY, RATE_LIMIT_JOBS_PER_MIN: 1 });
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  /** The CSP as directive -> sources. */
  const csp = (res: LightMyRequestResponse) =>
    new Map(
      String(res.headers['content-security-policy'])
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map(([name, ...sources]) => [name!, sources]),
    );

  it('are on every kind of answer: JSON, 404, 401, 429, errors from Redis-backed routes', async () => {
    const answers: [string, LightMyRequestResponse][] = [
      ['GET /health', await app.inject('/health')],
      ['GET /data/summary', await app.inject('/data/summary')],
      ['GET /nope (404)', await app.inject('/nope')],
      ['POST /jobs without key (401)', await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'mass-by-class' } })],
      ['GET /meteorites?limit=5000 (400)', await app.inject('/meteorites?limit=5000')],
    ];
    // The refused request above did not use up the one allowed: the key is checked before the limit counts.
    expect(
      (await app.inject({ method: 'POST', url: '/jobs', headers: bearer(KEY), payload: { analysis: 'mass-by-class' } })).statusCode,
    ).toBe(202);
    const limited = await app.inject({ method: 'POST', url: '/jobs', headers: bearer(KEY), payload: { analysis: 'mass-by-fall' } });
    expect(limited.statusCode).toBe(429);
    answers.push(['POST /jobs over the limit (429)', limited]);
    for (const [name, res] of answers) {
      expect(res.headers['x-content-type-options'], name).toBe('nosniff');
      expect(res.headers['x-frame-options'], name).toBe('SAMEORIGIN');
      expect(res.headers['referrer-policy'], name).toBe('no-referrer');
      expect(res.headers['cross-origin-opener-policy'], name).toBe('same-origin');
      expect(res.headers['cross-origin-resource-policy'], name).toBe('same-origin');
      expect(res.headers['strict-transport-security'], name).toMatch(/max-age=\d+/);
      const policy = csp(res);
      expect(policy.get('default-src'), name).toEqual(["'self'"]);
      expect(policy.get('script-src'), name).toEqual(["'self'"]);
      expect(policy.get('object-src'), name).toEqual(["'none'"]);
      expect(policy.get('frame-ancestors'), name).toEqual(["'self'"]);
      expect(policy.has('upgrade-insecure-requests'), name).toBe(false);
    }
  });

  it('/docs serves Swagger UI whose every script is a file from this origin (no inline script to block)', async () => {
    let res = await app.inject('/docs');
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 3; hops++) {
      res = await app.inject(new URL(res.headers.location!, 'http://localhost/docs/').pathname);
    }
    expect(res.statusCode).toBe(200);
    expect(csp(res).get('script-src')).toEqual(["'self'"]);
    const scripts = [...res.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    for (const [, attrs, body] of scripts) {
      expect(body!.trim(), attrs).toBe('');
      const src = /src="([^"]+)"/.exec(attrs!)?.[1];
      expect(src, attrs).toBeDefined();
      const url = new URL(src!, 'http://localhost/docs/');
      expect(url.origin).toBe('http://localhost');
      const file = await app.inject(url.pathname);
      expect(file.statusCode, url.pathname).toBe(200);
      expect(file.headers['content-type'], url.pathname).toMatch(/javascript/);
    }
    expect(res.body).not.toMatch(/\son[a-z]+=/i); // inline event handlers: blocked by script-src-attr 'none'
  });

  const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((bin) => {
    try {
      execFileSync(bin, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });

  it('Swagger UI renders its operations in headless Chromium with no CSP violation', async (ctx) => {
    if (!chromium) ctx.skip('no Chromium installed (apt-get install -y chromium)');
    const docsApp = await buildTestApp(redis.url);
    const profile = mkdtempSync(join(tmpdir(), 'meteorites-chromium-'));
    try {
      await docsApp.listen({ host: '127.0.0.1', port: 0 });
      const { port } = docsApp.server.address() as { port: number };
      const { stdout, stderr } = await promisify(execFile)(
        chromium!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          `--user-data-dir=${profile}`,
          '--enable-logging=stderr',
          '--v=0',
          '--virtual-time-budget=15000',
          '--dump-dom',
          `http://127.0.0.1:${port}/docs/`,
        ],
        { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
      );
      // Rendered: one block per documented operation, e.g. POST /jobs.
      expect(stdout).toMatch(/class="opblock opblock-post/);
      expect(stdout).toContain('data-path="/jobs"');
      expect(stdout).toContain('Authorize'); // the bearerAuth scheme
      expect(stderr).not.toMatch(/Content Security Policy|Refused to (load|execute|apply)/);
    } finally {
      await docsApp.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
