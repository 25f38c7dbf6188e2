/**
 * What the integration tests expect of a stored dataset: Redis holds exactly the given records,
 * checked against Redis itself (SCAN, the id set, every hash's fields), never against the loader.
 */
import { expect } from 'vitest';
import { idsOf, keys, type Redis, type Meteorite, SnapshotCache } from '@meteorites/shared';
import { parseDataset, getSummary, type InputFormat, type ParsedDataset } from '@meteorites/dataset';

/** Parses a whole text as the service would a request body. */
export function parseText(text: string, format: InputFormat = 'csv'): Promise<ParsedDataset> {
  return parseDataset(
    (async function* () {
      yield text;
    })(),
    format,
  );
}

/** Fields the API derives from others on every answer; never stored. */
const DERIVED = new Set(['class_type', 'class_group']);

/** The hash a record must be stored as: every present field as text, absent and derived ones left out. */
export function expectedHash(m: Meteorite): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [field, value] of Object.entries(m)) if (value !== null && !DERIVED.has(field)) h[field] = String(value);
  return h;
}

/** Every `meteorite:*` key, by SCAN (trusting no set; SCAN may return a key twice while Redis resizes). */
export async function meteoriteKeys(db: Redis): Promise<string[]> {
  const found = new Set<string>();
  for await (const batch of db.scanIterator({ MATCH: 'meteorite:*', COUNT: 1000 })) for (const k of batch) found.add(k);
  return [...found];
}

/** Redis holds exactly `records`: the id set, every hash's fields and values, no other meteorite key. */
export async function expectStored(db: Redis, records: Meteorite[]): Promise<void> {
  expect(await db.sCard(keys.meteoriteIds)).toBe(records.length);
  expect((await db.sMembers(keys.meteoriteIds)).sort()).toEqual(records.map((m) => m.id).sort());
  expect((await meteoriteKeys(db)).length).toBe(records.length);
  for (let i = 0; i < records.length; i += 2000) {
    const batch = records.slice(i, i + 2000);
    const multi = db.multi();
    for (const m of batch) multi.hGetAll(keys.meteorite(m.id));
    const hashes = (await multi.execAsPipeline()) as unknown as Record<string, string>[];
    hashes.forEach((h, j) => expect(h, `meteorite:${batch[j]!.id}`).toEqual(expectedHash(batch[j]!)));
  }
}

/** expectStored, and the dataset is ready with a snapshot of exactly those records in their order. */
export async function expectExactly(db: Redis, records: Meteorite[]): Promise<void> {
  await expectStored(db, records);
  expect(await getSummary(db)).toMatchObject({ state: 'ready', records: records.length });
  expect(idsOf((await new SnapshotCache(db).current()).columns)).toEqual(records.map((m) => m.id));
}
