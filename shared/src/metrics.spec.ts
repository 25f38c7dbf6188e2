import { describe, expect, it } from 'vitest';
import { JOB_DURATION_BUCKETS, parseDurations, parseJobCounters } from './metrics.ts';

describe('parseJobCounters', () => {
  it('groups the fields by analysis, zeros for events not yet counted, unknown events ignored', () => {
    const m = parseJobCounters({
      'mass-by-class:submitted': '3',
      'mass-by-class:finished': '2',
      'geo-grid:failed': '1',
      'geo-grid:exploded': '9',
    });
    expect(Object.fromEntries(m)).toEqual({
      'mass-by-class': { submitted: 3, deduplicated: 0, finished: 2, failed: 0, cancelled: 0 },
      'geo-grid': { submitted: 0, deduplicated: 0, finished: 0, failed: 1, cancelled: 0 },
    });
  });
});

describe('parseDurations', () => {
  const at = (le: number) => JOB_DURATION_BUCKETS.indexOf(le as (typeof JOB_DURATION_BUCKETS)[number]);

  it('sums one-bucket counts into cumulative ones; the count is their total, +Inf included', () => {
    const h = parseDurations({ 'heaviest:0.005': '2', 'heaviest:1': '1', 'heaviest:+Inf': '1', 'heaviest:sum_ms': '1510' }).get(
      'heaviest',
    )!;
    expect(h.buckets[0]).toBe(2);
    expect(h.buckets[at(0.5)]).toBe(2);
    expect(h.buckets[at(1)]).toBe(3);
    expect(h.buckets.at(-1)).toBe(3);
    expect(h).toMatchObject({ sum: 1.51, count: 4 });
  });

  it('counts a bound no longer configured in the next larger one', () => {
    const h = parseDurations({ 'x:0.2': '5', 'x:count': '5', 'x:sum_ms': '900' }).get('x')!;
    expect(h.buckets[at(0.1)]).toBe(0);
    expect(h.buckets[at(0.25)]).toBe(5);
    expect(h.count).toBe(5); // an older version's own count field is not added on top
  });
});
