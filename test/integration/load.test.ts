/**
 * Load: 50 concurrent clients submit 100 jobs each (the five analyses, distinct params, so none
 * is deduplicated) to a real listening API over keep-alive HTTP, and 2 worker processes run them.
 * Every request must be accepted, every job must finish, and the queue, the processing lists and
 * the leases must be empty at the end. The dataset is data/sample.json (38 records), so the
 * figure measures the API and the queue rather than the analyses.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { mixedJobRequests } from '@meteorites/test-utils/job-requests';
import type { App } from '@meteorites/api';
import { type Redis, keyPrefixes, keys, type Job } from '@meteorites/shared';

const CLIENTS = 50;
const PER_CLIENT = 100;
const TOTAL = CLIENTS * PER_CLIENT;
const WORKERS = 2;
const WORKER_ENV = { WORKER_CONCURRENCY: '4', JOB_LEASE_MS: '10000', JOB_RECOVERY_INTERVAL_MS: '1000' };
const SAMPLE = new URL('../../data/sample.json', import.meta.url);

describe('load', () => {
  let redis: TestRedis;
  let app: App;
  let db: Redis;
  let base: string;

  beforeAll(async () => {
    redis = await startRedis();
    [app] = await Promise.all([
      buildTestApp(redis.url),
      ...Array.from({ length: WORKERS }, () => spawnWorker(redis.url, WORKER_ENV, { bundled: true })),
    ]);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    db = await redis.client();
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  it(`${CLIENTS} clients × ${PER_CLIENT} jobs, ${WORKERS} workers: 0 errors, ${TOTAL} finished, queue empty`, async () => {
    const loaded = await fetch(`${base}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: readFileSync(SAMPLE),
    });
    expect(loaded.status).toBe(201);
    const { records } = (await loaded.json()) as { records: number };

    const requests = mixedJobRequests(TOTAL);
    expect(new Set(requests.map((r) => JSON.stringify(r))).size).toBe(TOTAL);
    const errors: string[] = [];
    const ids: string[] = [];
    let deduplicated = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let k = 0; k < PER_CLIENT; k++) {
          try {
            const res = await fetch(`${base}/jobs`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(requests[c * PER_CLIENT + k]),
            });
            const body = (await res.json()) as Job & { deduplicated: boolean };
            if (res.status !== 202 && res.status !== 200) errors.push(`${res.status} ${JSON.stringify(body)}`);
            else {
              ids.push(body.id);
              if (body.deduplicated) deduplicated++;
            }
          } catch (err) {
            errors.push((err as Error).message);
          }
        }
      }),
    );
    const submitSeconds = (Date.now() - t0) / 1000;
    expect(errors.slice(0, 5)).toEqual([]);
    expect(deduplicated).toBe(0);
    expect(new Set(ids).size).toBe(TOTAL);

    await expect.poll(() => db.zCard(keys.jobsByStatus('finished')), { timeout: 80_000, interval: 100 }).toBe(TOTAL);
    const totalSeconds = (Date.now() - t0) / 1000;

    // Counted again through the API: every acknowledged id is among the finished jobs.
    const finished = new Set<string>();
    for (let cursor: string | null = ''; cursor !== null;) {
      const page = (await (await fetch(`${base}/jobs?status=finished&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
        items: Job[];
        next_cursor: string | null;
      };
      for (const job of page.items) finished.add(job.id);
      cursor = page.next_cursor;
    }
    expect(ids.filter((id) => !finished.has(id))).toEqual([]);
    expect(await db.zCard(keys.jobsByStatus('failed'))).toBe(0);
    expect(await db.lLen(keys.jobsQueue)).toBe(0);
    expect(await db.zCard(keys.jobsLeases)).toBe(0);
    const processing = await db.keys(`${keyPrefixes.processing}*`);
    for (const list of processing) expect(await db.lLen(list), list).toBe(0);

    console.log(
      `load: ${CLIENTS} clients × ${PER_CLIENT} jobs (5 analyses, distinct params) over keep-alive HTTP to a listening API, ` +
        `${WORKERS} workers × ${WORKER_ENV.WORKER_CONCURRENCY}, dataset data/sample.json (${records} records): ` +
        `${TOTAL} accepted (202) in ${submitSeconds.toFixed(1)} s = ${Math.round(TOTAL / submitSeconds)} submissions/s, ` +
        `${errors.length} errors, ${deduplicated} deduplicated; ${finished.size} finished ${totalSeconds.toFixed(1)} s after the first ` +
        `request = ${Math.round(TOTAL / totalSeconds)} jobs/s end to end; queue, ${processing.length} processing lists and leases empty`,
    );
  });
});
