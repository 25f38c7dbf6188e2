/**
 * A Sentinel failover under load: 20 clients submit jobs through two API processes, two workers
 * run them, and the primary is SIGKILLed; the Sentinels promote the replica, and the killed node
 * comes back (as a supervisor would restart it) as the new primary's replica. Measured:
 * the time from the kill to the first successful POST /jobs sent after it, and the non-2xx
 * answers. Then every acknowledged job must end (none stuck queued or running) and the dataset
 * must be the one loaded. With REDIS_MIN_REPLICAS_ACK=1 no acknowledged job may be lost and each
 * finishes exactly once (a second run only where the worker said its settle was not confirmed);
 * without it, the jobs lost are counted and reported.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSentinelSet, type SentinelSet } from '@meteorites/test-utils/sentinel';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { mixedJobRequests } from '@meteorites/test-utils/job-requests';
import { spawnApi, type ApiProcess } from '@meteorites/test-utils/api-process';

const CLIENTS = 20;
const SAMPLE = readFileSync(new URL('../../data/sample.json', import.meta.url));

interface Call {
  start: number;
  end: number;
  status: number;
  id?: string;
}

interface Round {
  failoverMs: number;
  non2xx: number;
  acknowledged: number;
  lost: string[];
  doubleRuns: number;
}

type OnStarted = (apis: ApiProcess[], workers: WorkerProcess[]) => void;

async function runRound(set: SentinelSet, ack: number, offset: number, onStarted: OnStarted): Promise<Round> {
  const env = { ...set.env, REDIS_MIN_REPLICAS_ACK: String(ack), REDIS_REPLICA_ACK_TIMEOUT_MS: '500', REDIS_COMMAND_TIMEOUT_MS: '1000' };
  const [apis, workers] = await Promise.all([
    // No REDIS_URL: in Sentinel mode it defaults to the master's name, which the relay resolves.
    Promise.all([spawnApi('', env, 60_000), spawnApi('', env, 60_000)]),
    Promise.all([0, 1].map(() => spawnWorker('', env, { bundled: true }))),
  ]);
  onStarted(apis, workers);
  const summary = async () => (await (await fetch(`${apis[0]!.url}/data/summary`)).json()) as { version: number; records: number };
  if ((await summary()).records === 0) {
    const loaded = await fetch(`${apis[0]!.url}/data`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: SAMPLE });
    expect(loaded.status, await loaded.text()).toBe(201);
  }
  const before = await summary();

  const requests = mixedJobRequests(5000, offset);
  let next = 0;
  let stop = false;
  const calls: Call[] = [];
  const client = async (c: number) => {
    while (!stop) {
      const body = JSON.stringify(requests[next++ % requests.length]);
      const start = Date.now();
      try {
        const res = await fetch(`${apis[c % 2]!.url}/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        const json = (await res.json()) as { id?: string };
        calls.push({ start, end: Date.now(), status: res.status, id: res.ok ? json.id : undefined });
        if (!res.ok) await sleep(50);
      } catch {
        calls.push({ start, end: Date.now(), status: 0 });
        await sleep(50);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  await sleep(1500);
  const old = await set.primary();
  const killedAt = Date.now();
  await old.kill();
  const promoted = await set.waitForFailover(old);
  // Back as a supervisor would bring it, as the new primary's replica: with one replica only,
  // REDIS_MIN_REPLICAS_ACK=1 acknowledges nothing until it is there again.
  await set.restartAsReplica(old, promoted);
  const firstOk = async () => calls.find((c) => c.start >= killedAt && c.status >= 200 && c.status < 300);
  for (const end = Date.now() + 30_000; !(await firstOk()) && Date.now() < end;) await sleep(100);
  await sleep(1500);
  stop = true;
  await Promise.all(clients);
  const first = await firstOk();
  expect(first, 'no POST /jobs succeeded within 30 s of the failover').toBeDefined();

  const acknowledged = [...new Set(calls.filter((c) => c.id).map((c) => c.id!))];
  const lost: string[] = [];
  const unended: string[] = [];
  const drainEnd = Date.now() + 30_000;
  for (const id of acknowledged) {
    for (;;) {
      const res = await fetch(`${apis[0]!.url}/jobs/${id}?wait=5`);
      if (res.status === 404) {
        lost.push(id);
        break;
      }
      const job = (await res.json()) as { status: string };
      if (job.status !== 'queued' && job.status !== 'running') {
        expect(job.status, `job ${id}`).toBe('finished');
        break;
      }
      if (Date.now() > drainEnd) {
        unended.push(`${id} ${job.status}`);
        break;
      }
    }
  }
  expect(unended, 'acknowledged jobs still queued or running 30 s after the traffic stopped').toEqual([]);
  expect(await summary(), 'the dataset after the failover').toMatchObject({ version: before.version, records: before.records });

  // Runs per job, from the workers' logs. A settle the replicas did not confirm may be lost in the
  // failover, and the job then runs again: only such a settle may be followed by another run.
  // A job's end can reach this process through Redis before its worker's log line comes down the
  // pipe: where runs are checked, wait for the line of every job Redis says finished. (Only there:
  // the later round's requests may be deduplicated to jobs the earlier round's workers ran.)
  if (ack > 0) {
    const logged = () => new Set(workers.flatMap((w) => w.logs).flatMap((l) => (l.msg === 'job ended' ? [l.job as string] : [])));
    const finished = acknowledged.filter((id) => !lost.includes(id));
    await expect.poll(() => finished.filter((id) => !logged().has(id)), { timeout: 10_000, interval: 100 }).toEqual([]);
  }
  const logs = workers.flatMap((w) => w.logs);
  const runs = new Map<string, number>();
  const unconfirmed = new Map<string, number>();
  for (const line of logs) {
    const id = line.job as string | undefined;
    if (!id) continue;
    if (line.msg === 'job ended' && line.status === 'finished') runs.set(id, (runs.get(id) ?? 0) + 1);
    if (line.msg.startsWith('settle not confirmed')) unconfirmed.set(id, (unconfirmed.get(id) ?? 0) + 1);
  }
  const doubleRuns = acknowledged.filter((id) => (runs.get(id) ?? 0) > 1).length;
  if (ack > 0) {
    expect(lost, 'acknowledged jobs lost').toEqual([]);
    const notOnce = acknowledged
      .filter((id) => {
        const n = runs.get(id) ?? 0;
        return n === 0 || n - (unconfirmed.get(id) ?? 0) > 1;
      })
      .map((id) => `${id}: ${runs.get(id) ?? 0} runs, ${unconfirmed.get(id) ?? 0} unconfirmed settles`);
    expect(notOnce, 'acknowledged jobs not finished exactly once (counting confirmed settles)').toEqual([]);
  }
  await Promise.all([...apis.map((a) => a.kill()), ...workers.map((w) => w.kill())]);
  return {
    failoverMs: first!.end - killedAt,
    non2xx: calls.filter((c) => c.start >= killedAt - 1000 && (c.status < 200 || c.status >= 300)).length,
    acknowledged: acknowledged.length,
    lost,
    doubleRuns,
  };
}

describe('Sentinel failover under load', () => {
  let set: SentinelSet;
  let running: { apis: ApiProcess[]; workers: WorkerProcess[] } = { apis: [], workers: [] };
  const rounds: Record<string, Round> = {};

  beforeAll(async () => {
    set = await startSentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 5000 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(running.apis.map((a) => a.kill()));
    await killAllWorkers();
    await set?.close();
    console.log(JSON.stringify(rounds, (k, v: unknown) => (k === 'lost' ? (v as string[]).length : v)));
  });

  for (const ack of [1, 0]) {
    it(`REDIS_MIN_REPLICAS_ACK=${ack}: the service carries on on the promoted replica`, async () => {
      const round = await runRound(set, ack, ack * 2500, (apis, workers) => (running = { apis, workers }));
      rounds[`ack=${ack}`] = round;
      console.log(
        `ack=${ack}: first POST /jobs 2xx ${round.failoverMs} ms after the kill; ${round.non2xx} non-2xx; ` +
          `${round.acknowledged} acknowledged, ${round.lost.length} lost, ${round.doubleRuns} finished twice`,
      );
      expect(round.acknowledged).toBeGreaterThan(0);
    }, 120_000);
  }
});
