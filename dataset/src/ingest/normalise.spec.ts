import { describe, expect, it } from 'vitest';
import { idsOf, textsOf } from '@meteorites/shared';
import { ColumnsBuilder, decimal, geoPoint, meteoriteId, normaliseRecord, text, year, type RawRecord } from './normalise.ts';

const AACHEN: RawRecord = {
  id: '1',
  name: 'Aachen',
  nametype: 'Valid',
  recclass: 'L5',
  mass: '21',
  fall: 'Fell',
  year: '1880',
  reclat: '50.775000',
  reclong: '6.083330',
  geolocation: '(50.775, 6.08333)',
};

describe('text', () => {
  it.each([
    ['Aachen', 'Aachen'],
    ['  Chergach ', 'Chergach'],
    ['', null],
    ['   ', null],
    [null, null],
    [undefined, null],
    [42, '42'],
  ])('%j -> %j', (input, expected) => {
    expect(text(input)).toBe(expected);
  });

  it.each([[true], [{}], [[]], [NaN], [Infinity]])('refuses %j', (input) => {
    expect(text(input)).toBeUndefined();
  });
});

describe('decimal', () => {
  it.each([
    ['21', 21],
    ['50.775000', 50.775],
    [' 6.083330 ', 6.08333],
    ['-113.000000', -113],
    ['+5', 5],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1.5E-2', 0.015],
    ['0', 0],
    ['-0', 0],
    ['0e5', 0],
    [21, 21],
    [0.5, 0.5],
    [-0, 0],
    ['1e300', 1e300],
  ])('%j -> %j', (input, expected) => {
    expect(Object.is(decimal(input), expected)).toBe(true);
  });

  it.each([[''], ['  '], [null], [undefined]])('%j is absent', (input) => {
    expect(decimal(input)).toBeNull();
  });

  it.each([
    ['abc'],
    ['12abc'],
    ['1,5'],
    ['0x1F'],
    ['0X1f'],
    ['0b101'],
    ['0o17'],
    ['Infinity'],
    ['-Infinity'],
    ['NaN'],
    ['1e400'],
    ['1_000'],
    ['1 2'],
    [NaN],
    [Infinity],
    [true],
    [{}],
    [[1]],
  ])('%j is not a number', (input) => {
    expect(decimal(input)).toBeNaN();
  });
});

describe('year', () => {
  it.each([
    ['1880', 1880],
    [1880, 1880],
    ['0860', 860],
    [' 2013 ', 2013],
    ['1880-01-01T00:00:00.000', 1880],
    ['1880-01-01T00:00:00', 1880],
    ['1880-01-01T00:00:00.000Z', 1880],
    ['2001-06-30T12:00:00+02:00', 2001],
    ['1880-01-01', 1880],
    ['01/01/1880 12:00:00 AM', 1880],
    ['12/31/1999 11:59:59 PM', 1999],
    ['01/01/1880', 1880],
    ['1880.0', 1880],
    [1880.0, 1880],
    ['-500', -500],
  ])('%j -> %j', (input, expected) => {
    expect(year(input)).toBe(expected);
  });

  it.each([[''], [null], [undefined]])('%j is absent', (input) => {
    expect(year(input)).toBeNull();
  });

  it.each([
    ['1880.5'],
    [1880.5],
    ['eighteen eighty'],
    ['1880-13'],
    ['10000'],
    ['-10000'],
    [1e20],
    ['1880/01/01'],
    ['01/01/80'],
    [true],
    [Infinity],
  ])('%j is not a year', (input) => {
    expect(year(input)).toBeNaN();
  });
});

describe('meteoriteId', () => {
  it.each([
    ['1', '1'],
    [' 57458 ', '57458'],
    [1, '1'],
    [0, '0'],
    ['999999999999999', '999999999999999'],
  ])('%j -> %j', (input, expected) => {
    expect(meteoriteId(input)).toBe(expected);
  });

  it.each([[''], [null], [undefined]])('%j is absent', (input) => {
    expect(meteoriteId(input)).toBeNull();
  });

  it.each([['x1'], ['01'], ['-1'], ['1.5'], [1.5], [-1], ['1:2'], ['*'], ['1'.repeat(16)], [1e16], [true]])('%j is invalid', (input) => {
    expect(meteoriteId(input)).toBeUndefined();
  });
});

describe('geoPoint', () => {
  it.each([
    ['(50.775, 6.08333)', [50.775, 6.08333]],
    [' ( -33.16667 , -64.95 ) ', [-33.16667, -64.95]],
    [{ type: 'Point', coordinates: [6.08333, 50.775] }, [50.775, 6.08333]],
    [{ type: 'Point', coordinates: ['6.08333', '50.775'] }, [50.775, 6.08333]],
    [{ latitude: '50.775', longitude: '6.08333' }, [50.775, 6.08333]],
  ])('%j -> [lat, lon] %j', (input, expected) => {
    expect(geoPoint(input)).toEqual(expected);
  });

  it.each([[''], [null], [undefined]])('%j is absent', (input) => {
    expect(geoPoint(input)).toBeNull();
  });

  it.each([['50.775, 6.08333'], ['(50.775)'], ['(1, 2, 3)'], [{ type: 'Point' }], [{ coordinates: [1] }], [42]])(
    '%j is invalid',
    (input) => {
      expect(geoPoint(input)).toBeUndefined();
    },
  );
});

describe('normaliseRecord', () => {
  it('normalises a NASA record', () => {
    expect(normaliseRecord(AACHEN)).toEqual({
      id: '1',
      name: 'Aachen',
      nametype: 'Valid',
      recclass: 'L5',
      fall: 'Fell',
      mass: 21,
      year: 1880,
      lat: 50.775,
      lon: 6.08333,
    });
  });

  it('keeps missing mass, year, location and texts as absent', () => {
    const r = normaliseRecord({ id: '7', name: 'X', mass: '', year: '   ', reclat: '', reclong: '', geolocation: '' });
    expect(r).toEqual({ id: '7', name: 'X', nametype: null, recclass: null, fall: null, mass: NaN, year: NaN, lat: NaN, lon: NaN });
  });

  it('falls back to the geolocation only when reclat and reclong are both absent', () => {
    expect(
      normaliseRecord({ ...AACHEN, reclat: undefined, reclong: undefined, geolocation: { type: 'Point', coordinates: [1, 2] } }),
    ).toMatchObject({
      lat: 2,
      lon: 1,
    });
    expect(normaliseRecord({ ...AACHEN, geolocation: '(1, 2)' })).toMatchObject({ lat: 50.775, lon: 6.08333 });
  });

  it.each<[string, RawRecord, string, string | null]>([
    ['no id', { ...AACHEN, id: undefined }, 'missing id', null],
    ['an empty id', { ...AACHEN, id: ' ' }, 'missing id', null],
    ['a non-numeric id', { ...AACHEN, id: 'abc' }, 'invalid id', 'abc'],
    ['an id with a glob', { ...AACHEN, id: '1*' }, 'invalid id', '1*'],
    ['no name', { ...AACHEN, name: '' }, 'missing name', '1'],
    ['an object for a name', { ...AACHEN, name: { first: 'A' } }, 'invalid name', '1'],
    ['an array for a class', { ...AACHEN, recclass: ['L5'] }, 'invalid recclass', '1'],
    ['a non-numeric mass', { ...AACHEN, mass: 'heavy' }, 'invalid mass', '1'],
    ['NaN mass', { ...AACHEN, mass: 'NaN' }, 'invalid mass', '1'],
    ['an infinite mass', { ...AACHEN, mass: '1e400' }, 'invalid mass', '1'],
    ['a hex mass', { ...AACHEN, mass: '0x10' }, 'invalid mass', '1'],
    ['a huge mass', { ...AACHEN, mass: '1e21' }, 'mass out of range', '1'],
    ['a negative mass', { ...AACHEN, mass: '-21' }, 'negative mass', '1'],
    ['a fractional year', { ...AACHEN, year: '1880.5' }, 'invalid year', '1'],
    ['a word for a year', { ...AACHEN, year: 'unknown' }, 'invalid year', '1'],
    ['a non-numeric latitude', { ...AACHEN, reclat: 'north' }, 'invalid reclat', '1'],
    ['a non-numeric longitude', { ...AACHEN, reclong: '6,08' }, 'invalid reclong', '1'],
    ['latitude 91', { ...AACHEN, reclat: '91' }, 'reclat out of range', '1'],
    ['latitude -90.5', { ...AACHEN, reclat: -90.5 }, 'reclat out of range', '1'],
    ['longitude 360.5', { ...AACHEN, reclong: '360.5' }, 'reclong out of range', '1'],
    ['a broken geolocation', { ...AACHEN, reclat: '', reclong: '', geolocation: '(1; 2)' }, 'invalid geolocation', '1'],
    ['a geolocation out of range', { ...AACHEN, reclat: '', reclong: '', geolocation: '(95, 2)' }, 'reclat out of range', '1'],
  ])('skips %s', (_name, raw, reason, id) => {
    expect(normaliseRecord(raw)).toEqual({ reason, id });
  });

  it('keeps a longitude in the 0..360 east convention as given (NASA has one: 354.47333)', () => {
    expect(normaliseRecord({ ...AACHEN, reclong: '354.473330' })).toMatchObject({ lon: 354.47333 });
  });

  it('keeps the extremes that are in range', () => {
    expect(normaliseRecord({ ...AACHEN, reclat: '-90', reclong: '180', mass: '0' })).toMatchObject({ lat: -90, lon: 180, mass: 0 });
  });
});

describe('ColumnsBuilder', () => {
  it('accumulates columns past its initial capacity and reports skips with their input index', () => {
    const b = new ColumnsBuilder();
    for (let i = 0; i < 3000; i++) b.add({ ...AACHEN, id: String(i + 1), mass: i % 2 ? '' : String(i) }, i);
    b.add({ ...AACHEN, id: '5' }, 3000);
    b.add({ ...AACHEN, id: 'x' }, 3001);
    const c = b.finish();
    expect(c.length).toBe(3000);
    expect(c.mass.length).toBe(3000);
    expect(c.id[2999]).toBe(3000);
    expect(c.mass[2998]).toBe(2998);
    expect(c.mass[2999]).toBeNaN();
    expect(b.skipped).toEqual([
      { index: 3000, id: '5', reason: 'duplicate id' },
      { index: 3001, id: 'x', reason: 'invalid id' },
    ]);
  });

  it('finds duplicates among small and very large ids alike', () => {
    const b = new ColumnsBuilder();
    const ids = ['0', '7', '70000000', '999999999999999', '123456789', '8'];
    ids.forEach((id, i) => b.add({ ...AACHEN, id }, i));
    [...ids].reverse().forEach((id, i) => b.add({ ...AACHEN, id }, ids.length + i));
    b.add({ ...AACHEN, id: '9' }, 2 * ids.length);
    expect(idsOf(b.finish())).toEqual([...ids, '9']);
    expect(b.skipped.map((s) => s.id)).toEqual([...ids].reverse());
    expect(b.skipped.every((s) => s.reason === 'duplicate id')).toBe(true);
  });

  it('treats ids that differ only in spacing as duplicates, and shares repeated texts', () => {
    const b = new ColumnsBuilder();
    b.add({ ...AACHEN, recclass: 'L5' }, 0);
    b.add({ ...AACHEN, id: ' 1 ' }, 1);
    b.add({ ...AACHEN, id: '2', recclass: ['L', '5'].join('') }, 2);
    const c = b.finish();
    expect(c.length).toBe(2);
    expect(b.skipped).toEqual([{ index: 1, id: '1', reason: 'duplicate id' }]);
    expect(textsOf(c.recclass)).toEqual(['L5', 'L5']);
    expect(c.recclass.values).toEqual([null, 'L5']);
  });
});
