import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { textAt, textsOf } from '@meteorites/shared';
import { parseDataset, type ParsedDataset } from '@meteorites/dataset';
import { CLASSES, csvChunks, expectedDistinctClasses, HEADER } from './generate.ts';

const N = 20_000;

const digest = (n: number, seed: number) => {
  const hash = createHash('sha256');
  for (const chunk of csvChunks(n, { seed })) hash.update(chunk);
  return hash.digest('hex');
};

const share = (columns: ParsedDataset['columns'], test: (i: number) => boolean) => {
  let k = 0;
  for (let i = 0; i < columns.length; i++) if (test(i)) k++;
  return k / columns.length;
};

describe('generate', () => {
  it('makes the same bytes for the same seed and different ones for another', () => {
    expect(digest(3000, 42)).toBe(digest(3000, 42));
    expect(digest(3000, 42)).not.toBe(digest(3000, 43));
  });

  it('cuts the text into chunks without changing it', () => {
    const text = (chunkRecords: number) => [...csvChunks(500, { seed: 5, chunkRecords })].join('');
    expect(text(7)).toBe(text(4096));
    expect(text(7).startsWith(`${HEADER}\n`)).toBe(true);
    expect(text(7).split('\n')).toHaveLength(502);
  });

  it('writes only the header for zero records and refuses a bad count', () => {
    expect([...csvChunks(0)].join('')).toBe(`${HEADER}\n`);
    expect(() => [...csvChunks(-1)]).toThrow(RangeError);
  });

  it('offers 466 classes, skewed like the real file', () => {
    expect(new Set(CLASSES.map((c) => c.name)).size).toBe(466);
    expect(CLASSES.reduce((s, c) => s + c.p, 0)).toBeCloseTo(1, 9);
    expect(CLASSES[0]!.p).toBeGreaterThan(0.15);
    // The rarest ones come up once or twice in a file the real one's size.
    expect(CLASSES.at(-1)!.p * 45_716).toBeLessThan(2);
  });

  describe(`${N} records, parsed by the project's CSV reader`, async () => {
    const parsed = await parseDataset(Readable.from(csvChunks(N, { seed: 2026 })), 'csv');
    const c = parsed.columns;

    it('parses every row, none skipped', () => {
      expect(parsed.skipped).toEqual([]);
      expect(c.length).toBe(N);
      expect(new Set(c.id).size).toBe(N);
    });

    it('has the mix of missing values the issue names (~16 % coordinates, ~0.6 % year, ~0.3 % mass)', () => {
      expect(Math.abs(share(c, (i) => Number.isNaN(c.lat[i]!) && Number.isNaN(c.lon[i]!)) - 0.16)).toBeLessThan(0.01);
      expect(share(c, (i) => Number.isNaN(c.lat[i]!) !== Number.isNaN(c.lon[i]!))).toBe(0);
      expect(Math.abs(share(c, (i) => Number.isNaN(c.year[i]!)) - 0.006)).toBeLessThan(0.002);
      expect(Math.abs(share(c, (i) => Number.isNaN(c.mass[i]!)) - 0.003)).toBeLessThan(0.0015);
    });

    it('shows as many distinct classes as the distribution predicts, the commonest first', () => {
      const counts = new Map<string, number>();
      for (const k of textsOf(c.recclass)) counts.set(k!, (counts.get(k!) ?? 0) + 1);
      const expected = expectedDistinctClasses(N);
      expect(expected).toBeGreaterThan(300);
      expect(Math.abs(counts.size - expected) / expected).toBeLessThan(0.05);
      const top = [...counts.entries()].sort((a, b) => b[1] - a[1]);
      expect(top[0]![0]).toBe('L6');
      expect(top[0]![1] / N).toBeGreaterThan(0.15);
      expect(counts.has('Iron, IIIAB')).toBe(true);
    });

    it('spans years 860–2013 with most after 1970', () => {
      const years = c.year.filter((y) => !Number.isNaN(y));
      expect(Math.min(...years)).toBeGreaterThanOrEqual(860);
      expect(Math.max(...years)).toBeLessThanOrEqual(2013);
      expect(Math.min(...years)).toBeLessThan(1800);
      const after = years.filter((y) => y > 1970).length / years.length;
      expect(Math.abs(after - 0.948)).toBeLessThan(0.01);
    });

    it('spreads masses log-normally from 0.01 g towards 60 t', () => {
      const masses = [...c.mass.filter((m) => !Number.isNaN(m))].sort((a, b) => a - b);
      expect(masses[0]).toBeGreaterThanOrEqual(0.01);
      expect(masses.at(-1)).toBeLessThanOrEqual(60_000_000);
      expect(masses[0]).toBeLessThan(0.1);
      expect(masses.at(-1)).toBeGreaterThan(1_000_000);
      const medianLog = Math.log10(masses[masses.length >> 1]!);
      expect(Math.abs(medianLog - 1.635)).toBeLessThan(0.1);
    });

    it('mixes Fell with Found and Relict with Valid', () => {
      const fell = share(c, (i) => textAt(c.fall, i) === 'Fell');
      expect(fell).toBeGreaterThan(0.015);
      expect(fell).toBeLessThan(0.035);
      expect(share(c, (i) => textAt(c.fall, i) === 'Fell' || textAt(c.fall, i) === 'Found')).toBe(1);
      const relict = share(c, (i) => textAt(c.nametype, i) === 'Relict');
      expect(relict).toBeGreaterThan(0);
      expect(relict).toBeLessThan(0.005);
    });

    it('keeps coordinates in range, with the real file’s share at exactly 0,0', () => {
      expect(share(c, (i) => Math.abs(c.lat[i]!) > 90 || Math.abs(c.lon[i]!) > 180)).toBe(0);
      expect(Math.abs(share(c, (i) => c.lat[i] === 0 && c.lon[i] === 0) - 0.136)).toBeLessThan(0.01);
    });
  });
});
