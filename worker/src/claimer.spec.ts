import { describe, expect, it } from 'vitest';
import {
  AHEAD_PER_SLOT,
  claimingAhead,
  claimPlan,
  holdAheadLimit,
  mayBlock,
  MIN_AHEAD,
  settleBatchSize,
  type ClaimView,
} from './claimer.ts';

/** A worker at concurrency 4 with a 50 ms threshold, whose jobs ran 2 ms on average, holding nothing. */
const view = (over: Partial<ClaimView> = {}): ClaimView => ({
  concurrency: 4,
  prefetchBelowMs: 50,
  meanRunMs: 2,
  runningSince: [],
  now: 1000,
  waiting: 0,
  asked: 0,
  stopping: false,
  ...over,
});

describe('holdAheadLimit and settleBatchSize', () => {
  it('hold one job per slot and AHEAD_PER_SLOT more per slot (at least MIN_AHEAD), and settle in halves of that', () => {
    expect(holdAheadLimit(1)).toBe(1 + MIN_AHEAD);
    expect(holdAheadLimit(2)).toBe(2 + MIN_AHEAD);
    expect(holdAheadLimit(4)).toBe(4 + AHEAD_PER_SLOT * 4);
    expect(holdAheadLimit(20)).toBe(20 + AHEAD_PER_SLOT * 20);
    expect(settleBatchSize(1)).toBe(Math.ceil((1 + MIN_AHEAD) / 2));
    expect(settleBatchSize(20)).toBe((20 + AHEAD_PER_SLOT * 20) / 2);
  });
});

describe('claimingAhead', () => {
  it('is off before any job ran: the mean run time is unknown', () => {
    expect(claimingAhead(view({ meanRunMs: Infinity }))).toBe(false);
  });

  it('is on while jobs run shorter than the threshold, off from it', () => {
    expect(claimingAhead(view({ meanRunMs: 49.9 }))).toBe(true);
    expect(claimingAhead(view({ meanRunMs: 50 }))).toBe(false);
  });

  it('is off when the threshold is 0', () => {
    expect(claimingAhead(view({ prefetchBelowMs: 0, meanRunMs: 0 }))).toBe(false);
  });

  it('pauses while one running job has run for the whole threshold, short as the mean is', () => {
    expect(claimingAhead(view({ runningSince: [990, 951] }))).toBe(true);
    expect(claimingAhead(view({ runningSince: [990, 950] }))).toBe(false);
  });
});

describe('claimPlan', () => {
  it('claims for every free slot while jobs run long, none of them held', () => {
    expect(claimPlan(view({ meanRunMs: 500 }))).toEqual({ want: 4, hold: false });
    expect(claimPlan(view({ meanRunMs: 500, runningSince: [999, 998], waiting: 1 }))).toEqual({ want: 1, hold: false });
  });

  it('claims up to the hold-ahead limit while jobs run short, held', () => {
    expect(claimPlan(view())).toEqual({ want: holdAheadLimit(4), hold: true });
    expect(claimPlan(view({ runningSince: [999, 999, 999, 999], waiting: 3 }))).toEqual({ want: holdAheadLimit(4) - 7, hold: true });
  });

  it('counts the jobs asked for by claims on their way, so that two claims never overfill', () => {
    expect(claimPlan(view({ meanRunMs: 500, asked: 3 })).want).toBe(1);
    expect(claimPlan(view({ asked: holdAheadLimit(4) })).want).toBe(0);
  });

  it('asks for nothing (0 or less) when the worker holds as much as it may', () => {
    expect(claimPlan(view({ meanRunMs: 500, runningSince: [999, 999, 999, 999] })).want).toBe(0);
    // Jobs claimed ahead, then one long run: the jobs already held stay, no more are claimed.
    expect(claimPlan(view({ runningSince: [999, 999, 999, 900], waiting: 6 })).want).toBeLessThanOrEqual(0);
  });

  it('claims nothing once the worker is stopping', () => {
    expect(claimPlan(view({ stopping: true })).want).toBe(0);
    expect(claimPlan(view({ stopping: true, meanRunMs: 500 })).want).toBe(0);
  });
});

describe('mayBlock', () => {
  it('blocks for a job only while a slot is free', () => {
    expect(mayBlock({ concurrency: 2, running: 1, waiting: 0 })).toBe(true);
    expect(mayBlock({ concurrency: 2, running: 1, waiting: 1 })).toBe(false);
    expect(mayBlock({ concurrency: 2, running: 2, waiting: 0 })).toBe(false);
  });
});
