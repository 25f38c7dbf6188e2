import { describe, expect, it } from 'vitest';
import { columnsFromRecords, idsOf, textAt, textsOf, TextList, Utf8Texts } from './columns.ts';
import { SNAPSHOT_COLUMNS } from './keys.ts';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { decodeSnapshot, encodeSnapshot, idOrder, SnapshotFormatError } from './snapshot.ts';

const records = [
  {
    id: '30',
    name: 'Zeta',
    nametype: 'Valid',
    recclass: 'L6',
    fall: 'Found',
    mass_g: 1.5,
    year: 2001,
    reclat: -33.16667,
    reclong: 179.999999,
  },
  { id: '1', name: 'Aachen', nametype: 'Valid', recclass: 'L5', fall: 'Fell', mass_g: 21, year: 1880, reclat: 50.775, reclong: 6.08333 },
  { id: '7', name: 'Aïr ☄', nametype: null, recclass: null, fall: null, mass_g: null, year: null, reclat: null, reclong: null },
  { id: '12', name: 'Old', nametype: 'Relict', recclass: 'L6', fall: 'Found', mass_g: 0, year: -9999, reclat: 0, reclong: -180 },
];

/** What a snapshot part holds once inflated; `meta` is plain JSON. */
const raw = (part: Buffer) => inflateRawSync(part);
const order = (rs: { id: string }[]) => idOrder(rs.map((r) => Number(r.id)));
const meta = (encoded: { meta: Buffer }) => JSON.parse(encoded.meta.toString('utf8')) as Record<string, unknown>;

describe('idOrder', () => {
  it('orders by numeric id, not text', () => {
    expect([...idOrder([30, 1, 7, 100, 12])]).toEqual([1, 2, 4, 0, 3]);
    expect([...idOrder([1, 2, 3])]).toEqual([0, 1, 2]);
    expect([...idOrder([])]).toEqual([]);
    expect([...idOrder([5])]).toEqual([0]);
  });

  it('orders ids too large to share a double with their position', () => {
    expect([...idOrder([999999999999999, 3, 999999999999998, 0])]).toEqual([3, 1, 2, 0]);
  });

  it('agrees with a plain sort on many shuffled ids', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5003);
    const expected = ids
      .map((id, i) => [id, i] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, i]) => i);
    expect([...idOrder(ids)]).toEqual(expected);
  });
});

describe('the column snapshot', () => {
  it('round-trips columns in id order, missing values included', async () => {
    const columns = columnsFromRecords(records);
    const encoded = await encodeSnapshot(columns, idOrder(columns.id));
    expect(Object.keys(encoded).sort()).toEqual([...SNAPSHOT_COLUMNS].sort());
    const { version, columns: c } = await decodeSnapshot(3, encoded);
    expect(version).toBe(3);
    expect([...c.id]).toEqual([1, 7, 12, 30]);
    expect(c.length).toBe(4);
    expect(idsOf(c)).toEqual(['1', '7', '12', '30']);
    expect(c.name).toBeInstanceOf(Utf8Texts);
    expect(textsOf(c.name)).toEqual(['Aachen', 'Aïr ☄', 'Old', 'Zeta']);
    expect(textsOf(c.nametype)).toEqual(['Valid', null, 'Relict', 'Valid']);
    expect(textsOf(c.recclass)).toEqual(['L5', null, 'L6', 'L6']);
    expect(c.recclass.codes).toBeInstanceOf(Uint8Array);
    expect(textsOf(c.fall)).toEqual(['Fell', null, 'Found', 'Found']);
    expect([...c.mass]).toEqual([21, NaN, 0, 1.5]);
    expect([...c.year]).toEqual([1880, NaN, -9999, 2001]);
    expect([...c.lat]).toEqual([50.775, NaN, 0, -33.16667]);
    expect([...c.lon]).toEqual([6.08333, NaN, -180, 179.999999]);
  });

  it('stores ids as 32-bit steps from the previous id when they fit, and as doubles when they do not', async () => {
    const small = await encodeSnapshot(columnsFromRecords(records), order(records));
    expect([...new Uint32Array(new Uint8Array(raw(small.id)).buffer)]).toEqual([1, 6, 5, 18]);
    const bigIds = [...records, { ...records[0]!, id: '999999999999999' }];
    const big = await encodeSnapshot(columnsFromRecords(bigIds), order(bigIds));
    expect(raw(big.id).length).toBe(8 * bigIds.length);
    expect(idsOf((await decodeSnapshot(1, big)).columns).at(-1)).toBe('999999999999999');
  });

  it('stores mass and coordinates as 32-bit integers at the fewest exact decimals, else as doubles', async () => {
    const encoded = await encodeSnapshot(columnsFromRecords(records), order(records));
    expect(meta(encoded).places).toEqual({ mass: 1, lat: 5, lon: 6 });
    expect(raw(encoded.lat).length).toBe(4 * records.length);
    // 60 t to a hundredth of a gram is past 32 bits; a seventh decimal is past MAX_PLACES.
    const wide = [...records, { id: '40', name: 'Heavy', mass_g: 60_000_000.25, reclat: 1.1234567 }];
    const encodedWide = await encodeSnapshot(columnsFromRecords(wide), order(wide));
    expect(meta(encodedWide).places).toEqual({ mass: null, lat: null, lon: 6 });
    const { columns: c } = await decodeSnapshot(1, encodedWide);
    expect([...c.mass]).toEqual([21, NaN, 0, 1.5, 60_000_000.25]);
    expect([...c.lat]).toEqual([50.775, NaN, 0, -33.16667, 1.1234567]);
  });

  it('widens the class codes past 255 classes', async () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ id: String(i + 1), name: `M${i}`, recclass: `C${i}` }));
    const encoded = await encodeSnapshot(columnsFromRecords(many), order(many));
    expect(raw(encoded.recclass).length).toBe(2 * 300);
    expect(textAt((await decodeSnapshot(1, encoded)).columns.recclass, 299)).toBe('C299');
  });

  it('reads back an empty dataset and refuses a column of the wrong size, or another format', async () => {
    const empty = await encodeSnapshot(columnsFromRecords([]), new Uint32Array(0));
    expect((await decodeSnapshot(1, empty)).columns.length).toBe(0);
    const encoded = await encodeSnapshot(columnsFromRecords(records), order(records));
    const shorter = (await encodeSnapshot(columnsFromRecords(records.slice(1)), order(records.slice(1)))).mass;
    await expect(decodeSnapshot(1, { ...encoded, mass: shorter })).rejects.toThrow(/bytes/);
    await expect(decodeSnapshot(1, { ...encoded, name: Buffer.from('not deflated') })).rejects.toThrow(SnapshotFormatError);
    const format9 = Buffer.from(JSON.stringify({ ...meta(encoded), format: 9 }));
    await expect(decodeSnapshot(1, { ...encoded, meta: format9 })).rejects.toThrow(/format 9/);
  });

  it('still reads the first format: undeflated parts, ids and numbers as they are', async () => {
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const v1 = {
      meta: Buffer.from(
        JSON.stringify({
          format: 1,
          length: 2,
          widths: { id: 'u32', nametype: 'u8', recclass: 'u16', fall: 'u8' },
          dicts: { nametype: ['Valid'], recclass: ['L5'], fall: ['Fell'] },
        }),
      ),
      id: bytes(new Uint32Array([1, 7])),
      name: Buffer.from(JSON.stringify(['Aachen', 'Aïr ☄'])),
      nametype: bytes(new Uint8Array([1, 0])),
      recclass: bytes(new Uint16Array([1, 0])),
      fall: bytes(new Uint8Array([1, 0])),
      mass: bytes(new Float64Array([21, NaN])),
      year: bytes(new Int16Array([1880, -32768])),
      lat: bytes(new Float64Array([50.775, NaN])),
      lon: bytes(new Float64Array([6.08333, NaN])),
    };
    const { columns: c } = await decodeSnapshot(4, v1);
    expect(c.length).toBe(2);
    expect(idsOf(c)).toEqual(['1', '7']);
    expect([c.name, c.nametype, c.recclass, c.fall].map(textsOf)).toEqual([
      ['Aachen', 'Aïr ☄'],
      ['Valid', null],
      ['L5', null],
      ['Fell', null],
    ]);
    expect([...c.mass, ...c.year, ...c.lat, ...c.lon]).toEqual([21, NaN, 1880, NaN, 50.775, NaN, 6.08333, NaN]);
  });

  it('still reads the second format: names as one deflated JSON array', async () => {
    const encoded = await encodeSnapshot(columnsFromRecords(records), order(records));
    const { names: _, ...rest } = meta(encoded);
    const v2 = {
      ...encoded,
      meta: Buffer.from(JSON.stringify({ ...rest, format: 2 })),
      name: deflateRawSync(Buffer.from(JSON.stringify(['Aachen', 'Aïr ☄', 'Old', 'Zeta']))),
    };
    const { columns: c } = await decodeSnapshot(2, v2);
    expect(c.name).toBeInstanceOf(TextList);
    expect(textsOf(c.name)).toEqual(['Aachen', 'Aïr ☄', 'Old', 'Zeta']);
    expect(textsOf(c.recclass)).toEqual(['L5', null, 'L6', 'L6']);
    await expect(decodeSnapshot(2, { ...v2, name: deflateRawSync(Buffer.from('["one"]')) })).rejects.toThrow(/names/);
  });

  it('stores names as their UTF-8 byte lengths, then their bytes; lengths past 255 widen', async () => {
    const encoded = await encodeSnapshot(columnsFromRecords(records), order(records));
    expect(meta(encoded).names).toBe('u8');
    const utf8 = ['Aachen', 'Aïr ☄', 'Old', 'Zeta'].map((name) => Buffer.from(name));
    expect(raw(encoded.name)).toEqual(Buffer.concat([Buffer.from(utf8.map((b) => b.length)), ...utf8]));
    const long = [...records, { id: '50', name: `${'é'.repeat(200)}✓` }];
    const wide = await encodeSnapshot(columnsFromRecords(long), order(long));
    expect(meta(wide).names).toBe('u16');
    expect(textsOf((await decodeSnapshot(1, wide)).columns.name)).toEqual(['Aachen', 'Aïr ☄', 'Old', 'Zeta', `${'é'.repeat(200)}✓`]);
  });

  it('round-trips names from a decoded snapshot, which are UTF-8 already', async () => {
    const first = await decodeSnapshot(1, await encodeSnapshot(columnsFromRecords(records), order(records)));
    const again = await decodeSnapshot(2, await encodeSnapshot(first.columns, idOrder(first.columns.id)));
    expect(textsOf(again.columns.name)).toEqual(textsOf(first.columns.name));
  });

  it('refuses names whose lengths do not add up, and codes past their dictionary', async () => {
    const encoded = await encodeSnapshot(columnsFromRecords(records), order(records));
    const names = raw(encoded.name);
    await expect(decodeSnapshot(1, { ...encoded, name: deflateRawSync(names.subarray(0, -1)) })).rejects.toThrow(SnapshotFormatError);
    await expect(decodeSnapshot(1, { ...encoded, name: deflateRawSync(names.subarray(0, 2)) })).rejects.toThrow(SnapshotFormatError);
    const codes = raw(encoded.fall);
    codes[0] = 9;
    await expect(decodeSnapshot(1, { ...encoded, fall: deflateRawSync(codes) })).rejects.toThrow(/dictionary/);
  });
});
