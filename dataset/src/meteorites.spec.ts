import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, filterDigest, InvalidCursorError } from './meteorites.ts';

describe('cursors', () => {
  const filters = { recclass: 'L6', year_from: 1990 };

  it('round-trip the last id and are URL-safe', () => {
    const cursor = encodeCursor(filters, '57458');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, { ...filters })).toBe('57458');
  });

  it('are bound to the filters but not to the page size or to how absent filters are spelled', () => {
    expect(filterDigest({ recclass: 'L6' })).toBe(filterDigest({ recclass: 'L6', fall: undefined }));
    expect(filterDigest({ recclass: 'L6' })).not.toBe(filterDigest({ recclass: 'H5' }));
    expect(filterDigest({ year_from: 1990 })).not.toBe(filterDigest({ year_to: 1990 }));
    expect(filterDigest({ mass_min: 1 })).not.toBe(filterDigest({ mass_min: 1, mass_max: 2 }));
    const cursor = encodeCursor(filters, '7');
    expect(() => decodeCursor(cursor, { recclass: 'H5', year_from: 1990 })).toThrow(InvalidCursorError);
    expect(() => decodeCursor(cursor, { recclass: 'L6' })).toThrow(/other filters/);
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['empty', ''],
    ['base64 of something else', Buffer.from('hello').toString('base64url')],
    ['a foreign id', Buffer.from(`c1.${filterDigest({})}.01`).toString('base64url')],
    ['a glob for an id', Buffer.from(`c1.${filterDigest({})}.*`).toString('base64url')],
    ['another version', Buffer.from(`c9.${filterDigest({})}.1`).toString('base64url')],
    ['extra parts', Buffer.from(`c1.${filterDigest({})}.1.2`).toString('base64url')],
  ])('refuses %s', (_name, cursor) => {
    expect(() => decodeCursor(cursor, {})).toThrow(InvalidCursorError);
  });
});
