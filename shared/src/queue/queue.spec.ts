import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, jobFromHash } from './queue.ts';
import { InvalidCursorError } from './errors.ts';

describe('job list cursors', () => {
  it('round-trip and stay bound to their status filter', () => {
    const c = encodeCursor({ status: 'finished', seq: 42 });
    expect(decodeCursor(c, 'finished')).toEqual({ status: 'finished', seq: 42 });
    expect(() => decodeCursor(c, null)).toThrow(InvalidCursorError);
    expect(() => decodeCursor(c, 'failed')).toThrow(InvalidCursorError);
    expect(decodeCursor(encodeCursor({ status: null, seq: 0 }), null).seq).toBe(0);
  });

  it.each([
    '',
    'garbage',
    Buffer.from('[null,-1]').toString('base64url'),
    Buffer.from('[null,1.5]').toString('base64url'),
    Buffer.from('{}').toString('base64url'),
  ])('refuses %j', (raw) => expect(() => decodeCursor(raw, null)).toThrow(InvalidCursorError));
});

describe('jobFromHash', () => {
  it('shows absent fields as null and numbers as numbers', () => {
    const job = jobFromHash({
      id: 'x',
      analysis: 'heaviest',
      params: '{"n":3}',
      status: 'queued',
      progress: '0',
      attempts: '0',
      created_at: 't',
      token: '0',
      seq: '7',
    });
    expect(job).toEqual({
      id: 'x',
      analysis: 'heaviest',
      params: { n: 3 },
      status: 'queued',
      progress: 0,
      attempts: 0,
      dataset_version: null,
      created_at: 't',
      started_at: null,
      finished_at: null,
      error: null,
      cancel_requested: false,
    });
  });
});
