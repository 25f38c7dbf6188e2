import Type from 'typebox';
import Value from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { columnsFromRecords, type Columns } from '../columns.ts';
import { Meteorite } from '../schemas.ts';
import { BLOCK } from './group-by/engine.ts';
import { AnalysisResult, InvalidParamsError, validateJobRequest, type Analysis, type AnalysisContext } from './index.ts';

const NOW = new Date('2024-05-06T07:08:09.000Z');
const ctx = (over: Partial<AnalysisContext> = {}): AnalysisContext => ({
  datasetVersion: 7,
  progress: async () => {},
  now: () => NOW,
  ...over,
});

async function run(name: string, columns: Columns, params: Record<string, unknown> = {}, context = ctx()) {
  const request = validateJobRequest(name, params);
  const result = await request.analysis.run(columns, request.params, context);
  expect(Value.Check({ Meteorite }, AnalysisResult, result)).toBe(true);
  return result;
}

/** A hand-checked sample: the comments give the bucket each record falls in. */
const sample = columnsFromRecords([
  { id: '1', recclass: 'L5', fall: 'Fell', year: 1880, mass_g: 21, reclat: 50.775, reclong: 6.08333 },
  { id: '2', recclass: 'H6', fall: 'Fell', year: 1951, mass_g: 720, reclat: 56.18333, reclong: 10.23333 },
  { id: '3', recclass: 'L5', fall: 'Found', year: 1999, mass_g: 100, reclat: -33.5, reclong: -70.25 },
  { id: '4', recclass: 'L5', fall: 'Found', year: 2000, reclat: 0, reclong: 0 },
  { id: '5', recclass: 'H6', fall: 'Found', mass_g: 5 },
  { id: '6', fall: 'Fell', year: 1990, mass_g: 1000, reclat: -89.9, reclong: -180 },
  { id: '7', recclass: 'L5', year: 1901, mass_g: 50, reclat: 90, reclong: 180 },
  { id: '8', recclass: 'H6', fall: 'Found', year: 1900, mass_g: 15, reclat: -0.05, reclong: 0.05 },
]);

const stats = (key: string | number, count: number, masses: number[]) => {
  const sorted = [...masses].sort((a, b) => a - b);
  const total = masses.reduce((s, m) => s + m, 0);
  const mid = sorted.length >> 1;
  const none = masses.length === 0;
  return {
    key,
    count,
    with_mass: masses.length,
    total_mass_g: none ? null : total,
    mean_mass_g: none ? null : total / masses.length,
    median_mass_g: none ? null : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2,
    min_mass_g: none ? null : sorted[0],
    max_mass_g: none ? null : sorted.at(-1),
  };
};

describe('mass-by-class', () => {
  it('groups the sample, heaviest class first', async () => {
    const r = await run('mass-by-class', sample);
    expect(r).toEqual({
      analysis: 'mass-by-class',
      params: {},
      dataset_version: 7,
      computed_at: '2024-05-06T07:08:09.000Z',
      records: 8,
      matched: 8,
      excluded: { missing_class: 1 },
      groups: [
        { key: 'H6', count: 3, with_mass: 3, total_mass_g: 740, mean_mass_g: 740 / 3, median_mass_g: 15, min_mass_g: 5, max_mass_g: 720 },
        { key: 'L5', count: 4, with_mass: 3, total_mass_g: 171, mean_mass_g: 57, median_mass_g: 50, min_mass_g: 21, max_mass_g: 100 },
      ],
    });
  });

  it('applies the filters; a record without a year under a year filter is excluded, not dropped', async () => {
    const r = await run('mass-by-class', sample, { fall: 'Found', year_to: 1999 });
    expect(r.matched).toBe(3);
    expect(r.excluded).toEqual({ missing_class: 0, missing_year: 1 });
    expect(r.groups).toEqual([stats('L5', 1, [100]), stats('H6', 1, [15])]);
    const l5 = await run('mass-by-class', sample, { recclass: 'L5', year_from: 1900 });
    expect(l5.matched).toBe(3);
    expect(l5.groups).toEqual([stats('L5', 3, [100, 50])]);
  });

  it('takes the median of an even count as the mean of the two middle masses', async () => {
    const c = columnsFromRecords([4, 1, 3, 2].map((mass_g) => ({ recclass: 'X', mass_g })));
    expect((await run('mass-by-class', c)).groups).toEqual([stats('X', 4, [1, 2, 3, 4])]);
    expect((await run('mass-by-class', c)).groups![0]!.median_mass_g).toBe(2.5);
  });

  it('orders equal totals and massless groups by key', async () => {
    const c = columnsFromRecords([
      { recclass: 'b', mass_g: 5 },
      { recclass: 'z' },
      { recclass: 'a', mass_g: 5 },
      { recclass: 'c', mass_g: 9 },
      { recclass: 'y' },
    ]);
    expect((await run('mass-by-class', c)).groups!.map((g) => g.key)).toEqual(['c', 'a', 'b', 'y', 'z']);
  });

  it('adds masses in record order, as a naive re-computation does', async () => {
    const masses = [0.1, 0.2, 0.3, 1e16, 1, -0, 3.3];
    const c = columnsFromRecords(masses.map((mass_g) => ({ recclass: 'X', mass_g: Math.abs(mass_g) })));
    let naive = 0;
    for (const m of masses) naive += Math.abs(m);
    expect((await run('mass-by-class', c)).groups![0]!.total_mass_g).toBe(naive);
  });
});

describe('mass-by-fall', () => {
  it('groups by fall value', async () => {
    const r = await run('mass-by-fall', sample);
    expect(r.excluded).toEqual({ missing_fall: 1 });
    expect(r.groups).toEqual([stats('Fell', 3, [21, 720, 1000]), stats('Found', 4, [100, 5, 15])]);
  });
});

describe('mass-by-year', () => {
  it('bins by decade by default, keyed by the first year of the bin, in time order', async () => {
    const r = await run('mass-by-year', sample);
    expect(r.params).toEqual({ bin: 10 });
    expect(r.excluded).toEqual({ missing_year: 1 });
    expect(r.matched).toBe(8);
    expect(r.groups).toEqual([
      stats(1880, 1, [21]),
      stats(1900, 2, [50, 15]),
      stats(1950, 1, [720]),
      stats(1990, 2, [100, 1000]),
      stats(2000, 1, []),
    ]);
  });

  it('puts 1999 and 2000 in different decades and centuries, and 1900/1901 in the same', async () => {
    const keys = async (bin: number) => (await run('mass-by-year', sample, { bin })).groups!.map((g) => [g.key, g.count]);
    expect(await keys(100)).toEqual([
      [1800, 1],
      [1900, 5],
      [2000, 1],
    ]);
    expect(await keys(1)).toEqual([1880, 1900, 1901, 1951, 1990, 1999, 2000].map((y) => [y, 1]));
  });

  it('floors negative years into their bin', async () => {
    const c = columnsFromRecords([{ year: -5 }, { year: -10 }, { year: -11 }, { year: 0 }, { year: 9 }]);
    expect((await run('mass-by-year', c)).groups!.map((g) => [g.key, g.count])).toEqual([
      [-20, 1],
      [-10, 2],
      [0, 2],
    ]);
  });

  it('counts records without a year once, with or without a year filter', async () => {
    const r = await run('mass-by-year', sample, { year_from: 1950, bin: 100 });
    expect(r.excluded).toEqual({ missing_year: 1 });
    expect(r.matched).toBe(5);
    expect(r.groups!.map((g) => [g.key, g.count])).toEqual([
      [1900, 3],
      [2000, 1],
    ]);
  });
});

describe('heaviest', () => {
  it('ranks by mass, heaviest first, as Meteorite objects', async () => {
    const r = await run('heaviest', sample, { n: 3 });
    expect(r.excluded).toEqual({ missing_mass: 1 });
    expect(r.matched).toBe(8);
    expect(r.items!.map((m) => m.id)).toEqual(['6', '2', '3']);
    expect(r.items![0]).toEqual({
      id: '6',
      name: '6',
      nametype: null,
      recclass: null,
      mass_g: 1000,
      fall: 'Fell',
      year: 1990,
      reclat: -89.9,
      reclong: -180,
      class_type: null,
      class_group: null,
    });
    expect(r.items![1]).toMatchObject({ id: '2', recclass: 'H6', class_type: 'Chondrite', class_group: 'H' });
  });

  it('breaks ties by numeric id and returns fewer items when fewer records have a mass', async () => {
    const c = columnsFromRecords([
      { id: '10', mass_g: 5 },
      { id: '9', mass_g: 5 },
      { id: '100', mass_g: 5 },
      { id: '2', mass_g: 1 },
      { id: '3', mass_g: 7 },
      { id: '1' },
    ]);
    expect((await run('heaviest', c, { n: 3 })).items!.map((m) => m.id)).toEqual(['3', '9', '10']);
    expect((await run('heaviest', c, { n: 1000 })).items!.map((m) => m.id)).toEqual(['3', '9', '10', '100', '2']);
  });

  it('agrees with a full sort on a larger random set', async () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const records = Array.from({ length: 5000 }, (_, i) => ({ id: String(i), mass_g: Math.floor(rand() * 300) }));
    const expected = [...records].sort((a, b) => b.mass_g - a.mass_g || Number(a.id) - Number(b.id)).slice(0, 250);
    const r = await run('heaviest', columnsFromRecords(records), { n: 250 });
    expect(r.items!.map((m) => m.id)).toEqual(expected.map((m) => m.id));
  });
});

describe('geo-grid', () => {
  it('counts per 10° cell keyed by the south-west corner; no location and 0,0 are excluded', async () => {
    const r = await run('geo-grid', sample);
    expect(r.params).toEqual({ cell_deg: 10 });
    expect(r.excluded).toEqual({ missing_location: 1, zero_location: 1 });
    expect(r.matched).toBe(8);
    expect(r.cells).toEqual([
      { lat: -90, lon: -180, count: 1 },
      { lat: -40, lon: -80, count: 1 },
      { lat: -10, lon: 0, count: 1 },
      { lat: 50, lon: 0, count: 1 },
      { lat: 50, lon: 10, count: 1 },
      { lat: 80, lon: 170, count: 1 },
    ]);
  });

  it('places values on grid lines in the cell they start, even where v / cell is inexact', async () => {
    const c = columnsFromRecords([
      { reclat: -89.9, reclong: 0.3 },
      { reclat: 0.7, reclong: -0.1 },
      { reclat: 0.69999, reclong: -0.10001 },
      { reclat: -0.000001, reclong: 179.99 },
    ]);
    expect((await run('geo-grid', c, { cell_deg: 0.1 })).cells).toEqual([
      { lat: -89.9, lon: 0.3, count: 1 },
      { lat: -0.1, lon: 179.9, count: 1 },
      { lat: 0.6, lon: -0.2, count: 1 },
      { lat: 0.7, lon: -0.1, count: 1 },
    ]);
    expect((await run('geo-grid', c, { cell_deg: 0.25 })).cells!.map((x) => [x.lat, x.lon])).toEqual([
      [-90, 0.25],
      [-0.25, 179.75],
      [0.5, -0.25],
    ]);
  });

  it('puts the poles and the antimeridian in the outermost cells', async () => {
    const c = columnsFromRecords([
      { reclat: 90, reclong: 180 },
      { reclat: -90, reclong: -180 },
      { reclat: 90, reclong: -180 },
    ]);
    expect((await run('geo-grid', c, { cell_deg: 90 })).cells).toEqual([
      { lat: -90, lon: -180, count: 1 },
      { lat: 0, lon: -180, count: 1 },
      { lat: 0, lon: 90, count: 1 },
    ]);
  });
});

describe('geo-grid longitudes east of 180', () => {
  it('places a 0..360 east longitude (NASA has 354.47333) in the same cell as its -180..180 twin', async () => {
    const c = columnsFromRecords([
      { id: '1', reclat: -1.94617, reclong: 354.47333 },
      { id: '2', reclat: -1.94617, reclong: -5.52667 },
    ]);
    expect((await run('geo-grid', c, { cell_deg: 10 })).cells).toEqual([{ lat: -10, lon: -10, count: 2 }]);
  });
});

describe('edges', () => {
  const names = ['mass-by-class', 'mass-by-year', 'mass-by-fall', 'heaviest', 'geo-grid'];

  it.each([...names, 'group-by'])('%s matches nothing for a fall or class no record has', async (name) => {
    for (const filter of [{ fall: 'Nope' }, { recclass: 'Nope' }]) {
      const r = await run(name, sample, filter);
      expect(r.matched, JSON.stringify(filter)).toBe(0);
      expect(r.groups ?? r.items ?? r.cells).toEqual([]);
    }
  });

  it.each(names)('%s on an empty dataset', async (name) => {
    const r = await run(name, columnsFromRecords([]), { year_from: 1 });
    expect(r.records).toBe(0);
    expect(r.matched).toBe(0);
    expect(Object.values(r.excluded).every((n) => n === 0)).toBe(true);
    expect(r.groups ?? r.items ?? r.cells).toEqual([]);
  });

  it.each(names)('%s on one record', async (name) => {
    const one = columnsFromRecords([{ id: '5', recclass: 'H5', fall: 'Fell', year: 1902, mass_g: 3.5, reclat: 12.3, reclong: -45.6 }]);
    const r = await run(name, one);
    expect(r.matched).toBe(1);
    expect(Object.values(r.excluded).every((n) => n === 0)).toBe(true);
    if (r.groups) expect(r.groups).toEqual([stats(r.groups[0]!.key, 1, [3.5])]);
    if (r.items) expect(r.items.map((m) => m.id)).toEqual(['5']);
    if (r.cells) expect(r.cells).toEqual([{ lat: 10, lon: -50, count: 1 }]);
  });

  it('reports null mass statistics when no mass is known', async () => {
    const c = columnsFromRecords([
      { recclass: 'A', fall: 'Found', year: 1 },
      { recclass: 'A', fall: 'Found', year: 2 },
    ]);
    for (const name of ['mass-by-class', 'mass-by-fall'])
      expect((await run(name, c)).groups).toEqual([stats(name === 'mass-by-class' ? 'A' : 'Found', 2, [])]);
    const heaviest = await run('heaviest', c);
    expect(heaviest.items).toEqual([]);
    expect(heaviest.excluded).toEqual({ missing_mass: 2 });
  });
});

describe('progress and cancellation', () => {
  const n = 2 * BLOCK + 5000;
  const big = columnsFromRecords(Array.from({ length: n }, (_, i) => ({ recclass: i % 2 ? 'A' : 'B', mass_g: i })));

  it.each(['mass-by-class', 'mass-by-year', 'mass-by-fall', 'heaviest', 'geo-grid'])(
    '%s reports progress before each block of records',
    async (name) => {
      const seen: number[] = [];
      await run(name, big, {}, ctx({ progress: async (p) => void seen.push(p) }));
      expect(seen).toEqual([0, BLOCK / n, (2 * BLOCK) / n]);
    },
  );

  it('stops when progress throws', async () => {
    class Cancelled extends Error {}
    for (const name of ['mass-by-class', 'mass-by-year', 'mass-by-fall', 'heaviest', 'geo-grid']) {
      let calls = 0;
      const progress = async () => {
        if (++calls === 2) throw new Cancelled();
      };
      await expect(run(name, big, {}, ctx({ progress }))).rejects.toBeInstanceOf(Cancelled);
      expect(calls).toBe(2);
    }
  });
});

describe('validateJobRequest', () => {
  it('names a missing required param once, as a sentence', () => {
    const needsN = { name: 'needs-n', params: Type.Object({ n: Type.Integer() }, { additionalProperties: false }) } as unknown as Analysis;
    let problems: string[] | undefined;
    try {
      validateJobRequest('needs-n', {}, new Map([['needs-n', needsN]]));
    } catch (err) {
      problems = (err as InvalidParamsError).problems;
    }
    expect(problems).toEqual(['params.n is required']);
  });
});
