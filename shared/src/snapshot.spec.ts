import { describe, expect, it } from 'vitest';
import { columnsFromRecords } from './columns.ts';
import { SNAPSHOT_COLUMNS } from './keys.ts';
import { decodeSnapshot, encodeSnapshot, idOrder } from './snapshot.ts';

const records = [
  { id: '30', name: 'Zeta', nametype: 'Valid', recclass: 'L6', fall: 'Found', mass_g: 1.5, year: 2001, reclat: -33.16667, reclong: 179.999999 },
  { id: '1', name: 'Aachen', nametype: 'Valid', recclass: 'L5', fall: 'Fell', mass_g: 21, year: 1880, reclat: 50.775, reclong: 6.08333 },
  { id: '7', name: 'Aïr ☄', nametype: null, recclass: null, fall: null, mass_g: null, year: null, reclat: null, reclong: null },
  { id: '12', name: 'Old', nametype: 'Relict', recclass: 'L6', fall: 'Found', mass_g: 0, year: -9999, reclat: 0, reclong: -180 },
];

describe('idOrder', () => {
  it('orders by numeric id, not text', () => {
    expect([...idOrder(['30', '1', '7', '100', '12'])]).toEqual([1, 2, 4, 0, 3]);
    expect([...idOrder(['1', '2', '3'])]).toEqual([0, 1, 2]);
    expect([...idOrder([])]).toEqual([]);
  });
});

describe('the column snapshot', () => {
  it('round-trips columns in id order, missing values included', () => {
    const columns = columnsFromRecords(records);
    const encoded = encodeSnapshot(columns, idOrder(columns.id));
    expect(Object.keys(encoded).sort()).toEqual([...SNAPSHOT_COLUMNS].sort());
    const { version, columns: c, ids } = decodeSnapshot(3, encoded);
    expect(version).toBe(3);
    expect([...ids]).toEqual([1, 7, 12, 30]);
    expect(c.length).toBe(4);
    expect(c.id).toEqual(['1', '7', '12', '30']);
    expect(c.name).toEqual(['Aachen', 'Aïr ☄', 'Old', 'Zeta']);
    expect(c.nametype).toEqual(['Valid', null, 'Relict', 'Valid']);
    expect(c.recclass).toEqual(['L5', null, 'L6', 'L6']);
    expect(c.fall).toEqual(['Fell', null, 'Found', 'Found']);
    expect([...c.mass]).toEqual([21, NaN, 0, 1.5]);
    expect([...c.year]).toEqual([1880, NaN, -9999, 2001]);
    expect([...c.lat]).toEqual([50.775, NaN, 0, -33.16667]);
    expect([...c.lon]).toEqual([6.08333, NaN, -180, 179.999999]);
  });

  it('stores ids as 32-bit numbers when they fit, and as doubles when they do not', () => {
    const small = encodeSnapshot(columnsFromRecords(records), idOrder(records.map((r) => r.id)));
    expect(small.id.length).toBe(4 * records.length);
    const bigIds = [...records, { ...records[0]!, id: '999999999999999' }];
    const big = encodeSnapshot(columnsFromRecords(bigIds), idOrder(bigIds.map((r) => r.id)));
    expect(big.id.length).toBe(8 * bigIds.length);
    expect(decodeSnapshot(1, big).columns.id.at(-1)).toBe('999999999999999');
  });

  it('widens the class codes past 255 classes', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ id: String(i + 1), name: `M${i}`, recclass: `C${i}` }));
    const encoded = encodeSnapshot(columnsFromRecords(many), idOrder(many.map((r) => r.id)));
    expect(encoded.recclass.length).toBe(2 * 300);
    expect(decodeSnapshot(1, encoded).columns.recclass[299]).toBe('C299');
  });

  it('reads back an empty dataset and refuses a column of the wrong size', () => {
    const empty = encodeSnapshot(columnsFromRecords([]), new Uint32Array(0));
    expect(decodeSnapshot(1, empty).columns.length).toBe(0);
    const encoded = encodeSnapshot(columnsFromRecords(records), idOrder(records.map((r) => r.id)));
    expect(() => decodeSnapshot(1, { ...encoded, mass: encoded.mass.subarray(8) })).toThrow(/bytes/);
  });
});
