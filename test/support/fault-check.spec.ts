import { describe, expect, it } from 'vitest';
import { keys } from '@meteorites/shared';
import { acknowledged, checkEndedOnce, checkMetrics, checkRuns, checkStates, prng, type JobState } from './fault-check.ts';

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const job = (n: number, status: string, extra: Partial<JobState> = {}, fields: Record<string, string> = {}): JobState => ({
  id: ID(n),
  fields: { status, analysis: 'heaviest', attempts: '1', dataset_generation: 'g1', ...fields },
  hasResult: status === 'finished',
  places: status === 'running' ? [keys.jobsLeases] : [keys.jobsByStatus(status)],
  ...extra,
});

describe('the randomized fault test checker', () => {
  it('replays a seed', () => {
    const a = prng(7);
    const b = prng(7);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(prng(8)()).not.toBe(xs[0]);
  });

  it('takes 200 and 202 answers as acknowledged, 503 as allowed, anything else as a violation', () => {
    const { ids, bad } = acknowledged([
      { status: 202, body: JSON.stringify({ id: ID(1) }), at: 0 },
      { status: 200, body: JSON.stringify({ id: ID(2) }), at: 0 },
      { status: 503, body: '{}', at: 0 },
      { status: 500, body: '{"error":{"code":"internal"}}', at: 5 },
    ]);
    expect([...ids]).toEqual([ID(1), ID(2)]);
    expect(bad).toEqual([expect.stringMatching(/answered 500 at 5 ms/)]);
  });

  it('finds a lost job, a job not ended, one held twice, a missing or stale result', () => {
    const jobs = [
      job(1, 'finished'),
      job(2, 'running'),
      job(3, 'failed', { places: [keys.jobsByStatus('failed'), keys.jobsQueue] }),
      job(4, 'finished', { hasResult: false }),
      job(5, 'finished', {}, { dataset_generation: 'g0' }),
    ];
    const bad = checkStates(jobs, new Set([ID(1), ID(9)]), 'g1', 3);
    expect(bad).toEqual([
      expect.stringMatching(/^0+-0+-4000-8000-0+9: acknowledged, then lost/),
      expect.stringMatching(/-0+2: running at the end/),
      expect.stringMatching(/-0+2: running, held by/),
      expect.stringMatching(/-0+3: failed, held by/),
      expect.stringMatching(/-0+4: finished without a result/),
      expect.stringMatching(/-0+5: result computed on generation g0/),
    ]);
    expect(checkStates([job(1, 'finished')], new Set([ID(1)]), 'g1', 2)).toEqual(['2 result keys for 1 finished jobs']);
    expect(checkStates([job(1, 'finished')], new Set([ID(1)]), 'g1', 1)).toEqual([]);
    // The hash names the generation a result was computed on only where it is not the one asked on (dg).
    const asked = (dg: string) => ({ ...job(1, 'finished'), fields: { status: 'finished', analysis: 'heaviest', attempts: '1', dg } });
    expect(checkStates([asked('g1')], new Set([ID(1)]), 'g1', 1)).toEqual([]);
    expect(checkStates([asked('g0')], new Set([ID(1)]), 'g1', 1)).toEqual([expect.stringMatching(/generation g0, the dataset's is g1/)]);
  });

  it('finds a job announced ended twice', () => {
    expect(checkEndedOnce([`${ID(1)} finished`, `${ID(2)} failed`, `${ID(1)} finished`])).toEqual([
      expect.stringMatching(/-0+1: announced ended 2 times/),
    ]);
  });

  it('finds more runs logged than attempts counted, allowing a refunded unstarted run only in a fault', () => {
    const logs = [
      { level: 20, msg: 'job started', job: ID(1), attempt: 1, time: 10_000 },
      { level: 20, msg: 'job started', job: ID(1), attempt: 1, time: 20_000 },
      { level: 20, msg: 'job started', job: ID(2), attempt: 1, time: 20_000 },
    ];
    const { bad, runs } = checkRuns([job(1, 'finished'), job(2, 'finished')], [{ id: 'w1', logs }], []);
    expect(runs).toBe(3);
    expect(bad).toEqual([expect.stringMatching(/-0+1 \(heaviest, finished\): 2 runs logged/)]);
    // Refunded as never started (unstarted_losses), and the first run began as its worker was stopped: allowed.
    const refunded = [job(1, 'finished', {}, { unstarted_losses: '1' }), job(2, 'finished')];
    expect(checkRuns(refunded, [{ id: 'w1', logs }], [{ from: 10_500, to: 12_000, workers: ['w1'] }])).toMatchObject({
      bad: [],
      allowed: 1,
    });
    expect(checkRuns(refunded, [{ id: 'w1', logs }], [{ from: 10_500, to: 12_000, workers: '*' }])).toMatchObject({ bad: [], allowed: 1 });
    // The same refund with no fault near either run, or a fault on another worker: not allowed.
    expect(checkRuns(refunded, [{ id: 'w1', logs }], [{ from: 13_000, to: 15_000, workers: ['w1'] }]).bad).toHaveLength(1);
    expect(checkRuns(refunded, [{ id: 'w1', logs }], [{ from: 10_500, to: 12_000, workers: ['w2'] }]).bad).toHaveLength(1);
  });

  it('holds the metrics counters to the job states', () => {
    const jobs = [job(1, 'finished'), job(2, 'finished'), job(3, 'failed')];
    const good = checkMetrics(
      jobs,
      { 'heaviest:submitted': '3', 'heaviest:failed': '1', 'heaviest:deduplicated': '1' },
      { 'heaviest:0.1': '2', 'heaviest:sum_ms': '50' },
      1,
    );
    expect(good).toEqual([]);
    const bad = checkMetrics(
      jobs,
      { 'heaviest:submitted': '4', 'heaviest:failed': '1' },
      { 'heaviest:0.1': '1', 'heaviest:1': '2', 'heaviest:sum_ms': '5' },
      1,
    );
    expect(bad).toEqual([
      'metrics heaviest:submitted: counted 4, jobs say 3',
      'metrics heaviest:finished: counted 3, jobs say 2',
      'metrics: 0 deduplicated counted, 1 answered 200',
    ]);
  });
});
