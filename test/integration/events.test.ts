/**
 * GET /events and GET /jobs/{id}/events over real sockets: two API processes and one worker on
 * one Redis, with a small EVENTS_STREAM_MAXLEN so that a client can fall behind what the stream
 * keeps. What a client receives is compared with the stream itself (XRANGE), entry by entry.
 * The caps and the shutdown run on an in-process app with small caps, clients told apart by the
 * loopback address they connect from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { spawnApi, type ApiProcess } from '@meteorites/test-utils/api-process';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { openSse, parsed, type SseStream } from '@meteorites/test-utils/sse';
import { parsePrometheus, sampleValue } from '@meteorites/test-utils/prometheus';
import { buildTestApp } from '@meteorites/test-utils/app';
import {
  compareStreamIds,
  eventsFromEntry,
  splitEventId,
  STREAM_ID_PATTERN,
  keys,
  JobQueue,
  WorkerQueue,
  type Redis,
  type ServiceEvent,
} from '@meteorites/shared';
import type { StreamLimits } from '@meteorites/api';

const SAMPLE = readFileSync(fileURLToPath(new URL('../../data/sample.json', import.meta.url)));
const ENV = {
  ENABLE_TEST_ANALYSES: 'true',
  EVENTS_STREAM_MAXLEN: '100',
  SSE_MAX_STREAMS: '400',
  SSE_MAX_STREAMS_PER_CLIENT: '300',
  SSE_HEARTBEAT_MS: '1000',
};
const STREAMS = 200;

async function post(base: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function submit(base: string, params: Record<string, unknown>): Promise<string> {
  const res = await post(base, '/jobs', { analysis: 'test-sleep', params: { tag: randomUUID(), ...params } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Long-polls GET /jobs/{id} until the job ended. */
async function waitEnded(base: string, id: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const job = (await (await fetch(`${base}/jobs/${id}?wait=10`)).json()) as { status: string };
    if (['finished', 'failed', 'cancelled'].includes(job.status)) return;
  }
  throw new Error(`job ${id} did not end within 60 s`);
}

/** The stream's events, as XRANGE has them now (an entry may hold several), optionally one job's and after an event id. */
async function stored(db: Redis, job?: string, after = '-'): Promise<ServiceEvent[]> {
  const start = after === '-' ? '-' : splitEventId(after).entry;
  const entries = (await db.sendCommand(['XRANGE', keys.events, start, '+'])) as [string, string[]][];
  const events = entries.flatMap(([id, flat]) => eventsFromEntry(id, flat));
  return events.filter((e) => (job === undefined || e.job === job) && (after === '-' || compareStreamIds(e.id, after) > 0));
}

const ofJob = (s: SseStream, job: string) => parsed(s.messages).filter((m) => m.data.id === job);
const jobOf = (data: string) => (JSON.parse(data) as { id?: string }).id;
const ended = (s: SseStream, job: string) => s.messages.some((m) => m.event === 'finished' && jobOf(m.data) === job);
const connected = (s: SseStream) => s.until(() => s.comments.includes('connected'), 'the first line');

function expectIncreasing(ids: (string | undefined)[]): void {
  for (let i = 1; i < ids.length; i++) expect(compareStreamIds(ids[i]!, ids[i - 1]!), `${ids[i - 1]} then ${ids[i]}`).toBe(1);
}

/** Resident memory (MiB) and user + system CPU seconds of a process, from /proc. */
function usage(pid: number): { rssMb: number; cpuS: number } {
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMb: rssKb / 1024, cpuS: (Number(f[11]) + Number(f[12])) / 100 };
}

describe('job and dataset events across API processes', () => {
  let redis: TestRedis;
  let db: Redis;
  let a: ApiProcess;
  let b: ApiProcess;
  const open: SseStream[] = [];
  const sse = async (url: string, headers?: Record<string, string>) => {
    const s = await openSse(url, { headers });
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    [a, b] = await Promise.all([spawnApi(redis.url, ENV), spawnApi(redis.url, ENV), spawnWorker(redis.url, ENV)]);
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await Promise.all([a?.kill(), b?.kill(), killAllWorkers()]);
    await redis?.close();
  });

  it('a client on API A sees every event of a job submitted on API B, in order, and the dataset load', async () => {
    const s = await sse(`${a.url}/events`);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['content-security-policy']).toContain("default-src 'self'");
    expect(s.headers['x-content-type-options']).toBe('nosniff');
    await connected(s);

    expect((await post(b.url, '/data', JSON.parse(SAMPLE.toString()))).status).toBe(201);
    const ready = await s.waitFor((m) => m.event === 'ready');
    const dataset = parsed(s.messages).filter((m) => m.event === 'loading' || m.event === 'ready');
    expect(dataset.map((m) => m.event)).toEqual(['loading', 'ready']);
    expect(JSON.parse(ready.data)).toMatchObject({ state: 'ready', version: 1, records: 38 });

    const id = await submit(b.url, { steps: 4, step_ms: 300 });
    await s.until(() => ended(s, id), 'the job to finish');
    const mine = ofJob(s, id);
    expect(mine[0]!.event).toBe('queued');
    expect(mine[1]!.event).toBe('started');
    expect(mine.at(-1)!.event).toBe('finished');
    const progress = mine.slice(2, -1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((m) => m.event === 'progress' && m.data.status === 'running')).toBe(true);
    const fractions = progress.map((m) => m.data.progress as number);
    expect(fractions).toEqual([...fractions].sort((x, y) => x - y));
    expect(Math.min(...fractions)).toBeGreaterThan(0);
    expect(Math.max(...fractions)).toBeLessThanOrEqual(1);
    expect(mine.map((m) => m.data.status)).toEqual(['queued', 'running', ...progress.map(() => 'running'), 'finished']);
    expect(mine[1]!.data.attempts).toBe(1);
    for (const m of mine) {
      expect(m.data.analysis).toBe('test-sleep');
      expect(new Date(m.data.at as string).toISOString()).toBe(m.data.at);
    }
    // Exactly the stream's entries for the job, in the stream's order.
    expect(mine.map((m) => m.id)).toEqual((await stored(db, id)).map((e) => e.id));
    expectIncreasing(s.messages.map((m) => m.id));
  });

  it('a client reconnecting with Last-Event-ID (header on A, ?last_event_id= on B) loses nothing', async () => {
    const first = await sse(`${a.url}/events`);
    await connected(first);
    const id = await submit(b.url, { steps: 6, step_ms: 250 });
    await first.waitFor((m) => m.event === 'started' && (JSON.parse(m.data) as { id: string }).id === id);
    first.close();
    const last = first.messages.at(-1)!.id!;
    // The rest of the job happens while no client listens.
    await waitEnded(b.url, id);
    const missed = await stored(db, undefined, last);
    expect(missed.length).toBeGreaterThan(1);

    const again = await sse(`${a.url}/events`, { 'last-event-id': last });
    const viaQuery = await sse(`${b.url}/events?last_event_id=${last}`);
    for (const s of [again, viaQuery]) {
      await s.until(() => s.messages.length >= missed.length, 'the missed events');
      expect(s.messages.slice(0, missed.length).map((m) => m.id)).toEqual(missed.map((e) => e.id));
      const job = [...ofJob(first, id), ...ofJob(s, id)];
      expect(job.map((m) => m.id)).toEqual((await stored(db, id)).map((e) => e.id));
      expect(job.at(-1)!.event).toBe('finished');
    }
  });

  it('a client further behind than the stream keeps gets one reset, then live events', async () => {
    const s0 = await sse(`${a.url}/events`);
    await connected(s0);
    const marker = await submit(b.url, { steps: 1, step_ms: 0 });
    const seen = await s0.waitFor((m) => (JSON.parse(m.data) as { id?: string }).id === marker);
    s0.close();
    // Past EVENTS_STREAM_MAXLEN (100, trimmed a node of 100 entries at a time) until the entry is gone.
    const trimmedPast = async () => {
      const [oldest] = (await db.xRange(keys.events, '-', '+', { COUNT: 1 })) ?? [];
      return compareStreamIds(oldest!.id, seen.id!) > 0;
    };
    for (let round = 0; !(await trimmedPast()); round++) {
      expect(round).toBeLessThan(20);
      const ids = await Promise.all(Array.from({ length: 25 }, () => submit(b.url, { steps: 1, step_ms: 0 })));
      for (const id of ids) await waitEnded(b.url, id);
    }

    const s = await sse(`${a.url}/events`, { 'last-event-id': seen.id! });
    const reset = await s.waitFor(() => true);
    expect(reset.event).toBe('reset');
    expect(reset.id).toMatch(new RegExp(STREAM_ID_PATTERN));
    expect(JSON.parse(reset.data)).toMatchObject({ reason: 'behind' });
    const live = await submit(b.url, { steps: 1, step_ms: 0 });
    await s.until(() => ended(s, live), 'the live job to finish');
    expect(s.messages.filter((m) => m.event === 'reset')).toHaveLength(1);
    expect(ofJob(s, live).map((m) => m.id)).toEqual((await stored(db, live)).map((e) => e.id));
    expectIncreasing(s.messages.map((m) => m.id));
  });

  it("GET /jobs/{id}/events ends after the job's last event, answers an ended job at once, 404s an unknown one", async () => {
    const id = await submit(b.url, { steps: 3, step_ms: 200 });
    const s = await sse(`${a.url}/jobs/${id}/events`);
    expect(s.status).toBe(200);
    await s.until(() => s.isEnded(), 'the end of the stream');
    const events = parsed(s.messages);
    expect(events.at(-1)!.event).toBe('finished');
    expect(events.filter((m) => m.event === 'finished')).toHaveLength(1);
    expect(events.every((m) => m.data.id === id)).toBe(true);
    const all = (await stored(db, id)).map((e) => e.id);
    expect(events.map((m) => m.id)).toEqual(all.slice(all.length - events.length));

    const later = await sse(`${b.url}/jobs/${id}/events`);
    await later.until(() => later.isEnded(), 'the end of the stream');
    expect(later.messages).toHaveLength(1);
    expect(later.messages[0]!.event).toBe('finished');
    expect(later.messages[0]!.id).toMatch(new RegExp(STREAM_ID_PATTERN));
    expect(JSON.parse(later.messages[0]!.data)).toMatchObject({ id, analysis: 'test-sleep', status: 'finished', progress: 1, attempts: 1 });

    const failing = await submit(b.url, { steps: 1, step_ms: 0, fail: 'on purpose' });
    const f = await sse(`${a.url}/jobs/${failing}/events`);
    await f.until(() => f.isEnded(), 'the end of the stream');
    expect(f.messages.at(-1)!.event).toBe('failed');

    // Resumed mid-job: the rest of this job's events, none twice.
    const slow = await submit(b.url, { steps: 6, step_ms: 250 });
    const part = await sse(`${a.url}/jobs/${slow}/events`);
    await part.waitFor((m) => m.event === 'progress');
    part.close();
    const rest = await sse(`${a.url}/jobs/${slow}/events`, { 'last-event-id': part.messages.at(-1)!.id! });
    await rest.until(() => rest.isEnded(), 'the end of the resumed stream');
    const resumed = [...part.messages, ...rest.messages].map((m) => m.id);
    const kept = (await stored(db, slow)).map((e) => e.id);
    expect(resumed).toEqual(kept.slice(kept.indexOf(resumed[0]!)));
    expect(rest.messages.at(-1)!.event).toBe('finished');

    const head = await fetch(`${a.url}/jobs/${id}/events`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type')]).toEqual([200, 'text/event-stream']);
    expect((await fetch(`${a.url}/jobs/${randomUUID()}/events`, { method: 'HEAD' })).status).toBe(404);

    const unknown = await fetch(`${a.url}/jobs/${randomUUID()}/events`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const bad = await fetch(`${a.url}/events`, { headers: { 'last-event-id': 'not-an-id' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
  });

  it(`${STREAMS} concurrent streams on one API process all receive every event`, async () => {
    for (const s of open.splice(0)) s.close();
    const metric = async () => sampleValue(parsePrometheus(await (await fetch(`${a.url}/metrics`)).text()), 'meteorites_sse_streams');
    await expect.poll(metric, { timeout: 20_000 }).toBe(0);
    const before = usage(a.pid);
    const streams: SseStream[] = [];
    for (let i = 0; i < STREAMS; i += 50) streams.push(...(await Promise.all(Array.from({ length: 50 }, () => sse(`${a.url}/events`)))));
    await Promise.all(streams.map(connected));
    expect(await metric()).toBe(STREAMS);
    const opened = usage(a.pid);

    const jobs = await Promise.all(Array.from({ length: 10 }, () => submit(b.url, { steps: 2, step_ms: 50 })));
    await Promise.all(streams.map((s) => s.until(() => jobs.every((id) => ended(s, id)), 'every job to finish', 60_000)));
    const after = usage(a.pid);
    const expected = new Map<string, string[]>();
    for (const id of jobs)
      expected.set(
        id,
        (await stored(db, id)).map((e) => e.id),
      );
    for (const s of streams) for (const id of jobs) expect(ofJob(s, id).map((m) => m.id)).toEqual(expected.get(id));
    const events = [...expected.values()].reduce((n, ids) => n + ids.length, 0);
    console.log(
      `${STREAMS} streams on one API process: RSS ${before.rssMb.toFixed(1)} -> ${opened.rssMb.toFixed(1)} MiB once open ` +
        `(+${(((opened.rssMb - before.rssMb) * 1024) / STREAMS).toFixed(1)} KiB a stream), ${after.rssMb.toFixed(1)} MiB after ` +
        `${events} events to each (${events * STREAMS} deliveries); CPU ${(opened.cpuS - before.cpuS).toFixed(2)} s to open them, ` +
        `${(after.cpuS - opened.cpuS).toFixed(2)} s to deliver`,
    );
    for (const s of streams) s.close();
    await expect.poll(metric, { timeout: 20_000 }).toBe(0);
  });

  it('a dataset delete is a loading then an empty event', async () => {
    const s = await sse(`${a.url}/events`);
    await connected(s);
    const res = await fetch(`${b.url}/data`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await s.waitFor((m) => m.event === 'empty');
    const dataset = parsed(s.messages);
    expect(dataset.map((m) => m.event)).toEqual(['loading', 'empty']);
    expect(dataset[1]!.data).toMatchObject({ state: 'empty', version: 2, records: 0 });
    expect(dataset.map((m) => m.id)).toEqual(
      (await stored(db))
        .filter((e) => e.job === undefined)
        .slice(-2)
        .map((e) => e.id),
    );
  });

  it("SIGTERM ends B's open streams and B exits cleanly", async () => {
    const s = await sse(`${b.url}/events`);
    await connected(s);
    const exit = await b.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    await s.until(() => s.isEnded(), 'the end of the stream', 5000);
  });
});

describe('stream caps, heartbeats and shutdown (in-process API)', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('one claim of several jobs is one entry of several events; a client resuming inside it gets exactly the rest', async () => {
    const app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const db = await redis.client();
    try {
      await db.del(keys.jobsQueue);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await new JobQueue(db).enqueue('test-sleep', { tag: randomUUID() })).job.id);
      const s = await openSse(`${base}/events`);
      await connected(s);
      const claimed = await new WorkerQueue(db).claim(`w-${randomUUID()}`, 30_000, 4);
      expect(claimed).toHaveLength(4);
      await s.until(() => s.messages.filter((m) => m.event === 'started').length === 4, 'four started events');
      const started = s.messages.filter((m) => m.event === 'started');
      const entry = splitEventId(started[0]!.id!).entry;
      expect(started.map((m) => m.id)).toEqual([1, 2, 3, 4].map((n) => `${entry}.${n}`));
      expect(started.map((m) => jobOf(m.data)).sort()).toEqual([...ids].sort());
      expect(started.map((m) => m.id)).toEqual((await stored(db)).filter((e) => e.event === 'started').map((e) => e.id));

      // Resumed after the second event of the entry: the third and fourth, then nothing until new events.
      const mid = started[1]!.id!;
      const viaHeader = await openSse(`${base}/events`, { headers: { 'last-event-id': mid } });
      const viaQuery = await openSse(`${base}/events?last_event_id=${mid}`);
      const perJob = await openSse(`${base}/jobs/${jobOf(started[2]!.data)}/events`, { headers: { 'last-event-id': mid } });
      const skipped = await openSse(`${base}/jobs/${jobOf(started[1]!.data)}/events`, { headers: { 'last-event-id': mid } });
      const marker = (await new JobQueue(db).enqueue('test-sleep', { tag: randomUUID() })).job.id;
      for (const r of [viaHeader, viaQuery]) {
        await r.until(() => ofJob(r, marker).length === 1, 'the next event');
        expect(r.messages.map((m) => m.id)).toEqual([started[2]!.id, started[3]!.id, ...ofJob(r, marker).map((m) => m.id)]);
        expectIncreasing(r.messages.map((m) => m.id));
      }
      await perJob.until(() => perJob.messages.length === 1, "the job's started event");
      expect(perJob.messages[0]!.id).toBe(started[2]!.id);
      // The resume point is this job's own event: nothing of it comes again.
      await viaHeader.until(() => viaHeader.messages.length >= 3, 'the marker');
      expect(skipped.messages).toHaveLength(0);
      // A bare entry id stands for the whole entry.
      const whole = await openSse(`${base}/events`, { headers: { 'last-event-id': entry } });
      await whole.until(() => whole.messages.length >= 1, 'the marker');
      expect(jobOf(whole.messages[0]!.data)).toBe(marker);
      for (const r of [viaHeader, viaQuery, perJob, skipped, whole]) r.close();
      s.close();
    } finally {
      await app.close();
    }
  });

  it('over the per-client or the total cap answers 503 with Retry-After, counted in /metrics; app.close() ends every stream', async () => {
    const app = await buildTestApp(redis.url, { SSE_MAX_STREAMS: 3, SSE_MAX_STREAMS_PER_CLIENT: 2, SSE_HEARTBEAT_MS: 200 });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const streams = (app as unknown as { eventStreams: StreamLimits }).eventStreams;
    const from = (address: string) => openSse(`${base}/events`, { localAddress: address });
    const refused = async (s: SseStream) => {
      expect(s.status).toBe(503);
      expect(s.headers['retry-after']).toBe('5');
      await s.ended;
      expect((JSON.parse(s.body()) as { error: { code: string } }).error.code).toBe('too_many_streams');
    };
    try {
      const [c1, c2] = await Promise.all([from('127.0.0.2'), from('127.0.0.2')]);
      expect([c1.status, c2.status]).toEqual([200, 200]);
      await refused(await from('127.0.0.2'));
      const c4 = await from('127.0.0.3');
      expect(c4.status).toBe(200);
      await refused(await from('127.0.0.4'));

      const metrics = parsePrometheus((await app.inject('/metrics')).body);
      expect(sampleValue(metrics, 'meteorites_sse_streams')).toBe(3);
      expect(sampleValue(metrics, 'meteorites_sse_streams_refused_total')).toBe(2);
      await c4.until(() => c4.comments.filter((c) => c === 'ping').length >= 2, 'two heartbeats', 10_000);

      c1.close();
      await expect.poll(() => streams.open, { timeout: 10_000 }).toBe(2);
      const c6 = await from('127.0.0.2');
      expect(c6.status).toBe(200);

      await Promise.all([app.close(), c2.ended, c4.ended, c6.ended]);
      expect([c2, c4, c6].every((s) => s.isEnded())).toBe(true);
      expect(streams.open).toBe(0);
    } finally {
      await app.close();
    }
  });

  it("the reader's connection dropped while jobs are queued: the client still gets every event, once, in order", async () => {
    const app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const db = await redis.client();
    const queue = new JobQueue(db);
    // What earlier tests on this Redis wrote is not this stream's.
    const start = (await stored(db)).at(-1)?.id ?? '-';
    try {
      const s = await openSse(`${base}/events`);
      await connected(s);
      const ids: string[] = [];
      for (let round = 0; round < 3; round++) {
        const clients = (await db.clientList()).filter((c) => c.name === 'api:events-reader');
        expect(clients).toHaveLength(1);
        await db.sendCommand(['CLIENT', 'KILL', 'ID', String(clients[0]!.id)]);
        // Written while the reader is down or reconnecting.
        for (let i = 0; i < 20; i++) ids.push((await queue.enqueue('test-sleep', { tag: randomUUID() })).job.id);
        const readers = async () => (await db.clientList()).filter((c) => c.name === 'api:events-reader').length;
        await expect.poll(readers, { timeout: 20_000 }).toBe(1);
      }
      await s.until(() => ids.every((id) => ofJob(s, id).length === 1), 'every queued event', 30_000);
      const all = await stored(db, undefined, start);
      expect(s.messages.map((m) => m.id)).toEqual(all.map((e) => e.id));
      expect(s.messages.every((m) => m.event === 'queued')).toBe(true);
    } finally {
      await app.close();
    }
  });
});
