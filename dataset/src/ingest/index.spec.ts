import { describe, expect, it } from 'vitest';
import { idAt, idsOf, textAt } from '@meteorites/shared';
import { DatasetFormatError, EmptyDatasetError, formatFromName, parseDataset, type InputFormat } from './index.ts';

async function* chunks(text: string, size = 7): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

const parse = (text: string, format: InputFormat, size?: number) => parseDataset(chunks(text, size), format);

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';
const AACHEN = {
  id: '1',
  name: 'Aachen',
  nametype: 'Valid',
  recclass: 'L5',
  fall: 'Fell',
  mass: 21,
  year: 1880,
  lat: 50.775,
  lon: 6.08333,
};

/** Record i of the columns as a plain object, for comparisons. */
function row(p: Awaited<ReturnType<typeof parseDataset>>, i: number) {
  const c = p.columns;
  return {
    id: idAt(c, i),
    name: c.name.at(i),
    nametype: textAt(c.nametype, i),
    recclass: textAt(c.recclass, i),
    fall: textAt(c.fall, i),
    mass: c.mass[i],
    year: c.year[i],
    lat: c.lat[i],
    lon: c.lon[i],
  };
}

describe('parseDataset', () => {
  it('reads the four input shapes to the same record', async () => {
    const csv = `${HEADER}\nAachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"\n`;
    const course = {
      name: 'Aachen',
      id: '1',
      nametype: 'Valid',
      recclass: 'L5',
      'mass (g)': '21',
      fall: 'Fell',
      year: '1880',
      reclat: '50.775000',
      reclong: '6.083330',
      GeoLocation: '(50.775, 6.08333)',
    };
    const portal = {
      name: 'Aachen',
      id: '1',
      nametype: 'Valid',
      recclass: 'L5',
      mass: '21',
      fall: 'Fell',
      year: '1880-01-01T00:00:00.000',
      reclat: '50.775000',
      reclong: '6.083330',
      geolocation: { type: 'Point', coordinates: [6.08333, 50.775] },
    };
    const portalNumbers = { ...portal, id: 1, mass: 21, reclat: 50.775, reclong: 6.08333 };
    const ours = {
      id: '1',
      name: 'Aachen',
      nametype: 'Valid',
      recclass: 'L5',
      mass_g: 21,
      fall: 'Fell',
      year: 1880,
      reclat: 50.775,
      reclong: 6.08333,
    };
    const inputs: [string, InputFormat][] = [
      [csv, 'csv'],
      [JSON.stringify({ meteorite_landings: [course] }), 'json'],
      [JSON.stringify([course]), 'json'],
      [JSON.stringify([portal]), 'json'],
      [JSON.stringify([portalNumbers]), 'json'],
      [JSON.stringify([ours]), 'json'],
    ];
    for (const [text, format] of inputs) {
      const p = await parse(text, format);
      expect(p.skipped, text).toEqual([]);
      expect(row(p, 0), text).toEqual(AACHEN);
    }
  });

  it('reads null JSON values and a portal record without location as absent', async () => {
    const p = await parse(
      JSON.stringify([{ id: '2', name: 'B', mass_g: null, year: null, reclat: null, reclong: null, recclass: null }]),
      'json',
    );
    expect(row(p, 0)).toEqual({ id: '2', name: 'B', nametype: null, recclass: null, fall: null, mass: NaN, year: NaN, lat: NaN, lon: NaN });
  });

  it('skips bad records with their input index and id, and keeps the rest', async () => {
    const p = await parse(
      JSON.stringify({
        meteorite_landings: [
          { id: '1', name: 'A' },
          'text',
          { id: '1', name: 'Again' },
          { name: 'No id' },
          { id: '3', name: 'C', reclat: '91' },
          { id: '4', name: 'D' },
        ],
      }),
      'json',
    );
    expect(idsOf(p.columns)).toEqual(['1', '4']);
    expect(p.skipped).toEqual([
      { index: 1, id: null, reason: 'not an object' },
      { index: 2, id: '1', reason: 'duplicate id' },
      { index: 3, id: null, reason: 'missing id' },
      { index: 4, id: '3', reason: 'reclat out of range' },
    ]);
  });

  it('skips CSV rows with the wrong number of fields, counted in the record index', async () => {
    const p = await parse(`${HEADER}\nA,1,Valid,L5,1,Fell,1880,,,\nB,2\nC,3,Valid,L5,1,Fell,1880,,,\n`, 'csv');
    expect(idsOf(p.columns)).toEqual(['1', '3']);
    expect(p.skipped).toEqual([{ index: 1, id: '2', reason: 'wrong number of fields' }]);
  });

  it('throws EmptyDatasetError, with the skips, when no record is usable', async () => {
    const err = await parse(`${HEADER}\nBad,x,Valid,L5,1,Fell,2000,,,\n`, 'csv').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmptyDatasetError);
    expect((err as EmptyDatasetError).skipped).toEqual([{ index: 0, id: 'x', reason: 'invalid id' }]);
    expect((err as Error).message).toMatch(/no usable record \(1 skipped, e\.g\. record 0: invalid id\)/);
    await expect(parse('[]', 'json')).rejects.toThrow(EmptyDatasetError);
    await expect(parse(`${HEADER}\n`, 'csv')).rejects.toThrow(EmptyDatasetError);
  });

  it('throws DatasetFormatError for the wrong format', async () => {
    await expect(parse(`${HEADER}\nA,1,Valid,L5,1,Fell,1880,,,\n`, 'json')).rejects.toThrow(DatasetFormatError);
    await expect(parse(JSON.stringify([{ id: '1', name: 'A' }]), 'csv')).rejects.toThrow(DatasetFormatError);
  });

  it('reports progress with the number of records read', async () => {
    const rows = Array.from({ length: 25_000 }, (_, i) => `R${i},${i + 1},Valid,L5,1,Fell,1999,,,`);
    const seen: number[] = [];
    await parseDataset(chunks(`${HEADER}\n${rows.join('\n')}\n`, 4096), 'csv', { onProgress: (n) => seen.push(n) });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(25_000);
  });

  it('stops before the next chunk once its signal aborts, with the reason, and asks for no more', async () => {
    class GoneError extends Error {}
    for (const format of ['csv', 'json'] as const) {
      const controller = new AbortController();
      let pulled = 0;
      async function* endless() {
        yield format === 'csv' ? `${HEADER}\n` : '[';
        for (;;) {
          pulled++;
          if (pulled === 3) controller.abort(new GoneError('the client has gone'));
          yield format === 'csv' ? 'A,1,Valid,L5,1,Fell,1880,,,\n' : '{"id": "1", "name": "A"},';
        }
      }
      await expect(parseDataset(endless(), format, { signal: controller.signal })).rejects.toThrow(GoneError);
      expect(pulled).toBe(3);
    }
  });

  it('hands maxRowBytes to the CSV reader', async () => {
    const text = `${HEADER}\n${'a'.repeat(100)},1,Valid,L5,1,Fell,1880,,,\n`;
    await expect(parseDataset(chunks(text, 16), 'csv', { maxRowBytes: 110 })).rejects.toThrow(/row 2 is longer than 110 bytes/);
    expect((await parseDataset(chunks(text, 16), 'csv', { maxRowBytes: 200 })).columns.length).toBe(1);
  });

  it('accepts Buffer chunks split inside a UTF-8 character', async () => {
    for (const format of ['csv', 'json'] as const) {
      const text = format === 'csv' ? `${HEADER}\nAïr,424,Valid,L6,1,Fell,1925,,,\n` : '[{"id": "424", "name": "Aïr"}]';
      const bytes = Buffer.from(text);
      const cut = bytes.indexOf(0xc3) + 1;
      async function* buffers() {
        yield bytes.subarray(0, cut);
        yield bytes.subarray(cut);
      }
      expect((await parseDataset(buffers(), format)).columns.name.at(0)).toBe('Aïr');
    }
  });
});

describe('formatFromName', () => {
  it.each([
    ['Meteorite_Landings.csv', 'csv'],
    ['DATA.CSV', 'csv'],
    ['x.json', 'json'],
    ['text/csv', 'csv'],
    ['text/csv; charset=utf-8', 'csv'],
    ['application/json', 'json'],
    ['Application/JSON; charset=UTF-8', 'json'],
    ['application/vnd.api+json', 'json'],
    ['data.txt', undefined],
    ['text/plain', undefined],
    ['csv', undefined],
    ['', undefined],
  ])('%j -> %j', (name, expected) => {
    expect(formatFromName(name)).toBe(expected);
  });
});
