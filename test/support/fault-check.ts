/**
 * The randomized fault test's checker (test/integration/faults-random.test.ts): what must hold of
 * a Redis after the faults stopped and every job ended, against every answer the clients got and
 * every run the workers logged. Each function returns the violations it found as text (empty:
 * none), so that one failure report lists them all.
 */
import { type Redis, keys } from '@meteorites/shared';
import type { LogLine } from './worker.ts';

/** The seeded PRNG the faults, loads and waits draw from: a seed replays them. */
export { mulberry32 as prng } from './prng.ts';

export interface Answer {
  status: number;
  body: string;
  /** ms since the test started. */
  at: number;
}

export const TERMINAL = ['finished', 'failed', 'cancelled'] as const;

/**
 * Running jobs without an entry in `jobs:leases` (recovery could never find them), read in one
 * step: a running job without a lease is one no one renews and no one takes back.
 */
export async function runningWithoutLease(r: Redis): Promise<string[]> {
  const script = `
    local bad = {}
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if redis.call('HGET', ARGV[1] .. id, 'status') == 'running' and not redis.call('ZSCORE', KEYS[2], id) then bad[#bad + 1] = id end
    end
    return bad`;
  return (await r.eval(script, {
    keys: [keys.jobsAll, keys.jobsLeases],
    arguments: [keys.job('00000000-0000-4000-8000-000000000000').slice(0, -36)],
  })) as string[];
}

export interface JobState {
  id: string;
  fields: Record<string, string>;
  hasResult: boolean;
  /** The index sets and lists holding the id. */
  places: string[];
}

/** Every job of `jobs:all` with its hash, whether it has a result, and where it is indexed: one MULTI. */
export async function readJobs(r: Redis): Promise<JobState[]> {
  const procs: string[] = [];
  for await (const batch of r.scanIterator({ MATCH: `${keys.processing('x').slice(0, -1)}*`, COUNT: 1000 }))
    procs.push(...(batch as unknown as string[]));
  const ids = await r.zRange(keys.jobsAll, 0, -1);
  const statusSets = ['queued', ...TERMINAL].map((s) => keys.jobsByStatus(s));
  const m = r.multi();
  m.lRange(keys.jobsQueue, 0, -1);
  for (const p of procs) m.lRange(p, 0, -1);
  m.zRange(keys.jobsLeases, 0, -1).zRange(keys.jobsDelayed, 0, -1);
  for (const s of statusSets) m.zRange(s, 0, -1);
  for (const id of ids) m.hGetAll(keys.job(id)).exists(keys.result(id));
  const replies = (await m.exec()) as unknown[];
  const lists: [string, string[]][] = [
    [keys.jobsQueue, replies[0] as string[]],
    ...procs.map((p, i): [string, string[]] => [p, replies[1 + i] as string[]]),
    [keys.jobsLeases, replies[1 + procs.length] as string[]],
    [keys.jobsDelayed, replies[2 + procs.length] as string[]],
    ...statusSets.map((s, i): [string, string[]] => [s, replies[3 + procs.length + i] as string[]]),
  ];
  const places = new Map<string, string[]>();
  for (const [name, members] of lists) for (const id of members) places.set(id, [...(places.get(id) ?? []), name]);
  const base = lists.length;
  return ids.map((id, i) => ({
    id,
    fields: replies[base + 2 * i] as Record<string, string>,
    hasResult: (replies[base + 2 * i + 1] as number) === 1,
    places: places.get(id) ?? [],
  }));
}

/** Acknowledged ids (a 202 or 200 with an id), and the answers that must not be. */
export function acknowledged(answers: readonly Answer[]): { ids: Set<string>; bad: string[] } {
  const ids = new Set<string>();
  const bad: string[] = [];
  for (const a of answers) {
    if (a.status === 202 || a.status === 200) {
      const id = (JSON.parse(a.body) as { id?: string }).id;
      if (id) ids.add(id);
      else bad.push(`a ${a.status} without an id at ${a.at} ms: ${a.body.slice(0, 200)}`);
    } else if (a.status !== 503) {
      // 500 never; a 4xx would be this test's own mistake in a request, also worth failing on.
      bad.push(`POST /jobs answered ${a.status} at ${a.at} ms: ${a.body.slice(0, 200)}`);
    }
  }
  return { ids, bad };
}

/** Every acknowledged job present and ended exactly once, indexed once, its result as its status says. */
export function checkStates(jobs: readonly JobState[], ackd: ReadonlySet<string>, generation: string, resultKeys: number): string[] {
  const bad: string[] = [];
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const id of ackd) if (!byId.has(id)) bad.push(`${id}: acknowledged, then lost (not in ${keys.jobsAll})`);
  let finished = 0;
  for (const j of jobs) {
    const s = j.fields.status;
    if (!s) {
      bad.push(`${j.id}: in ${keys.jobsAll} without a hash`);
      continue;
    }
    if (!(TERMINAL as readonly string[]).includes(s)) bad.push(`${j.id}: ${s} at the end (attempts ${j.fields.attempts})`);
    const expected = (TERMINAL as readonly string[]).includes(s) ? [keys.jobsByStatus(s)] : [];
    if (JSON.stringify(j.places) !== JSON.stringify(expected)) bad.push(`${j.id}: ${s}, held by ${JSON.stringify(j.places)}`);
    if (s === 'finished') {
      finished++;
      if (!j.hasResult) bad.push(`${j.id}: finished without a result`);
      // Written when it is not the generation the job was asked on (dg).
      const ranOn = j.fields.dataset_generation ?? j.fields.dg;
      if (ranOn !== generation) bad.push(`${j.id}: result computed on generation ${ranOn}, the dataset's is ${generation}`);
    } else if (j.hasResult) {
      bad.push(`${j.id}: ${s} with a result`);
    }
  }
  if (resultKeys !== finished) bad.push(`${resultKeys} result keys for ${finished} finished jobs`);
  return bad;
}

/** Jobs announced ended more than once on `jobs:events`. */
export function checkEndedOnce(events: readonly string[]): string[] {
  const ends = new Map<string, string[]>();
  for (const line of events) {
    const [id, status] = line.split(' ') as [string, string];
    if ((TERMINAL as readonly string[]).includes(status)) ends.set(id, [...(ends.get(id) ?? []), status]);
  }
  return [...ends].filter(([, s]) => s.length > 1).map(([id, s]) => `${id}: announced ended ${s.length} times (${s.join(', ')})`);
}

export interface WorkerLog {
  id: string;
  logs: readonly LogLine[];
}

/** A fault as the checker sees it: wall-clock ms, and the worker ids it hit ('*': Redis, so every worker). */
export interface FaultWindow {
  from: number;
  to: number;
  workers: readonly string[] | '*';
}

/**
 * How far apart a run's start and a fault may be for the fault to have kept the start from
 * reaching Redis: the start is written in the run's first turn, but on a busy machine the event
 * loop, the write and its reply can lag that much.
 */
export const START_EXPOSURE_MS = 1000;

/**
 * Runs per job from the workers' "job started" lines (debug level), against the attempts the job
 * counts. A SIGKILLed worker can lose its last lines (pino writes asynchronously): that only makes
 * the logged runs fewer, never more, so it cannot hide a run too many here.
 *
 * The one documented uncharged run (docs/architecture.md, "At least once"): a job held ahead whose
 * start never reached Redis (its worker killed or stopped, its connection or Redis down or stalled
 * just then) and whose lease then ran out; recovery refunds the attempt and counts the loss in
 * `unstarted_losses`. So beyond its attempts a job may show as many runs as it has unstarted
 * losses, and only runs that began while a fault hit their worker (or Redis) count for that.
 * `allowed` counts the jobs that needed it.
 */
export function checkRuns(
  jobs: readonly JobState[],
  workers: readonly WorkerLog[],
  faults: readonly FaultWindow[],
): { bad: string[]; runs: number; allowed: number } {
  const exposed = (worker: string, t: number) =>
    faults.some(
      (f) => (f.workers === '*' || f.workers.includes(worker)) && f.from <= t + START_EXPOSURE_MS && f.to >= t - START_EXPOSURE_MS,
    );
  const runs = new Map<string, { text: string; exposed: boolean }[]>();
  let total = 0;
  for (const w of workers) {
    for (const l of w.logs) {
      if (l.msg !== 'job started') continue;
      if (typeof l.time !== 'number') throw new Error(`a "job started" line without its time: ${JSON.stringify(l)}`);
      total++;
      const id = String(l.job);
      runs.set(id, [
        ...(runs.get(id) ?? []),
        { text: `${w.id} attempt ${String(l.attempt)} at ${l.time}`, exposed: exposed(w.id, l.time) },
      ]);
    }
  }
  const bad: string[] = [];
  let allowed = 0;
  for (const j of jobs) {
    const ran = runs.get(j.id) ?? [];
    const attempts = Number(j.fields.attempts ?? 0);
    const uncharged = Math.min(Number(j.fields.unstarted_losses ?? 0), ran.filter((r) => r.exposed).length);
    if (ran.length > attempts + uncharged) {
      bad.push(
        `${j.id} (${j.fields.analysis}, ${j.fields.status}): ${ran.length} runs logged (${ran.map((r) => r.text + (r.exposed ? ' in a fault' : '')).join('; ')}) ` +
          `but attempts ${attempts}, unstarted losses ${j.fields.unstarted_losses ?? 0}`,
      );
    } else if (ran.length > attempts) {
      allowed++;
    }
  }
  return { bad, runs: total, allowed };
}

/**
 * The metrics counters against the job states: `submitted` per analysis = jobs created, `failed`
 * and `cancelled` = jobs in those states, finished = the duration histogram's buckets (not
 * sum_ms) summed; `deduplicated` at least the 200 answers (a dedup whose answer was lost to a
 * timeout is counted and answered 503).
 */
export function checkMetrics(
  jobs: readonly JobState[],
  counters: Record<string, string>,
  durations: Record<string, string>,
  dupAnswers: number,
): string[] {
  const expected = new Map<string, number>();
  const add = (field: string) => expected.set(field, (expected.get(field) ?? 0) + 1);
  for (const j of jobs) {
    add(`${j.fields.analysis}:submitted`);
    if (j.fields.status === 'failed' || j.fields.status === 'cancelled') add(`${j.fields.analysis}:${j.fields.status}`);
    if (j.fields.status === 'finished') add(`${j.fields.analysis}:finished`);
  }
  const actual = new Map<string, number>();
  for (const [field, n] of Object.entries(counters)) if (!field.endsWith(':deduplicated')) actual.set(field, Number(n));
  for (const [field, n] of Object.entries(durations)) {
    if (field.endsWith(':sum_ms')) continue;
    const analysis = field.slice(0, field.lastIndexOf(':'));
    actual.set(`${analysis}:finished`, (actual.get(`${analysis}:finished`) ?? 0) + Number(n));
  }
  const bad: string[] = [];
  for (const field of new Set([...expected.keys(), ...actual.keys()])) {
    if ((expected.get(field) ?? 0) !== (actual.get(field) ?? 0))
      bad.push(`metrics ${field}: counted ${actual.get(field) ?? 0}, jobs say ${expected.get(field) ?? 0}`);
  }
  const deduplicated = Object.entries(counters)
    .filter(([f]) => f.endsWith(':deduplicated'))
    .reduce((s, [, n]) => s + Number(n), 0);
  if (deduplicated < dupAnswers) bad.push(`metrics: ${deduplicated} deduplicated counted, ${dupAnswers} answered 200`);
  return bad;
}
