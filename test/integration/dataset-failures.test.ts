/**
 * The dataset layer when things go wrong: a load that fails part way (a failing step, Redis
 * stopped mid-write) leaves `state=loading` and the next load repairs everything; loads and
 * deletes exclude each other; the data survives Redis restarts (SIGTERM, and SIGKILL after an
 * fsync) with AOF on.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DatasetBusyError, DatasetLockLostError, deleteDataset, getSummary, iterateMeteorites, storeDataset } from '@meteorites/dataset';
import { DatasetNotReadyError, SnapshotCache, keys, type Redis, type Meteorite } from '@meteorites/shared';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { fullDataset } from '@meteorites/test-utils/env';
import { expectedRecords, firstRows } from '@meteorites/test-utils/source-csv';
import { expectExactly, parseText } from '@meteorites/test-utils/stored';

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';

/** `count` made-up records with ids from `firstId`, none of which NASA uses. */
function syntheticCsv(firstId: number, count: number): string {
  const lines = [HEADER];
  for (let i = 0; i < count; i++) {
    const id = firstId + i;
    lines.push(`Synthetic ${id},${id},Valid,L${i % 7},${i % 500},Found,${1900 + (i % 100)},${(i % 179) - 89},${(i % 359) - 179},`);
  }
  return `${lines.join('\n')}\n`;
}

/** Redis holds exactly `records` and their ready snapshot, and no snapshot of another version is left. */
async function expectOnly(db: Redis, records: Meteorite[]): Promise<void> {
  await expectExactly(db, records);
  const { version } = await getSummary(db);
  const snapshotKeys = new Set<string>();
  for await (const batch of db.scanIterator({ MATCH: keys.snapshotPattern })) for (const k of batch) snapshotKeys.add(k);
  expect([...snapshotKeys].every((k) => k.startsWith(`dataset:snapshot:${version}:`))).toBe(true);
}

describe('the dataset when loads fail, collide or Redis restarts', () => {
  let redis: TestRedis;
  let db: Redis;
  let fullText: string;
  let full: Meteorite[];
  /** The first 2,000 NASA rows: the dataset every repair must end with. */
  let small: Meteorite[];
  let smallText: string;

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    fullText = readFileSync(fullDataset().csv, 'utf8');
    full = expectedRecords(fullText);
    smallText = firstRows(fullText, 2000);
    small = expectedRecords(smallText);
  });
  afterAll(async () => {
    await redis?.close();
  });
  beforeEach(async (ctx) => {
    if (!redis.controllable) ctx.skip();
    await db.flushAll();
  });

  it('a load failing half way leaves state "loading" and partial data; the next load repairs everything', async () => {
    const first = await storeDataset(db, await parseText(fullText), { source: 'full' });
    const failing = await parseText(syntheticCsv(900_001, 20_000));
    let steps = 0;
    await expect(
      storeDataset(db, failing, {
        source: 'failing',
        onProgress: () => {
          if (++steps === 2) throw new Error('the pipeline broke');
        },
      }),
    ).rejects.toThrow('the pipeline broke');

    expect(await getSummary(db)).toMatchObject({ version: first.version, state: 'loading', records: full.length });
    expect(await db.exists(keys.datasetLock)).toBe(0);
    expect(await db.exists(keys.meteorite('900001'))).toBe(1);
    expect(await db.sCard(keys.meteoriteIds)).toBe(full.length);
    await expect(new SnapshotCache(db).current()).rejects.toThrow(DatasetNotReadyError);
    await expect(iterateMeteorites(db).next()).rejects.toThrow(DatasetNotReadyError);

    const repaired = await storeDataset(db, await parseText(smallText), { source: 'small' });
    expect(repaired).toEqual({ version: first.version + 1, records: small.length });
    await expectOnly(db, small);
  });

  it('a load cut off by Redis stopping mid-write reads "loading" after the restart; the next load repairs everything', async () => {
    await storeDataset(db, await parseText(fullText), { source: 'full' });
    let stopping: Promise<void> | undefined;
    await expect(
      storeDataset(db, await parseText(syntheticCsv(900_001, 40_000)), {
        source: 'cut off',
        lockTtlMs: 1000,
        onProgress: (written) => {
          if (written >= 5_000) stopping ??= redis.stop();
        },
      }),
    ).rejects.toThrow();
    await stopping;
    await redis.start();
    db = await redis.client();

    expect(await getSummary(db)).toMatchObject({ version: 1, state: 'loading' });
    expect(await db.exists(keys.meteorite('900001'))).toBe(1);
    // The cut-off load's lock outlives it only by its TTL.
    await expect.poll(() => db.exists(keys.datasetLock), { timeout: 5000 }).toBe(0);

    await storeDataset(db, await parseText(smallText), { source: 'small' });
    await expectOnly(db, small);
  });

  it('a failed delete also leaves "loading", and a load after it starts from whatever is there', async () => {
    await storeDataset(db, await parseText(fullText), { source: 'full' });
    // A delete cut off after the state change: simulated by the state it leaves and some keys gone.
    await db.hSet(keys.dataset, 'state', 'loading');
    await db.unlink(full.slice(0, 500).map((m) => keys.meteorite(m.id)));
    await db.unlink(keys.meteoriteIds);
    await storeDataset(db, await parseText(smallText), { source: 'small' });
    await expectOnly(db, small);
  });

  it('refuses a second load and a delete while a load runs; the running load completes', async () => {
    let second: Promise<unknown> | undefined;
    let del: Promise<unknown> | undefined;
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'done',
        (err: unknown) => err,
      );
    const result = await storeDataset(db, await parseText(smallText), {
      source: 'first',
      onProgress: () => {
        second ??= outcome(parseText(syntheticCsv(900_001, 10)).then((p) => storeDataset(db, p, { source: 'second' })));
        del ??= outcome(deleteDataset(db));
      },
    });
    expect(await second).toBeInstanceOf(DatasetBusyError);
    expect(await del).toBeInstanceOf(DatasetBusyError);
    expect(result.records).toBe(small.length);
    await expectOnly(db, small);
    expect((await getSummary(db)).source).toBe('first');
  });

  it('waits out the lock of a loader that died, for no longer than its TTL', async () => {
    const parsed = await parseText(smallText);
    await db.set(keys.datasetLock, 'a crashed loader', { expiration: { type: 'PX', value: 1500 } });
    await expect(storeDataset(db, parsed, { source: 'too early' })).rejects.toThrow(DatasetBusyError);
    await expect(deleteDataset(db)).rejects.toThrow(DatasetBusyError);
    expect(await getSummary(db)).toMatchObject({ version: 0, state: 'empty' });
    await expect.poll(() => db.exists(keys.datasetLock), { timeout: 3000 }).toBe(0);
    await storeDataset(db, parsed, { source: 'later' });
    await expectOnly(db, small);
  });

  it('renews the lock while a load outlasts its TTL, and stops a load whose lock was lost', async () => {
    const parsed = await parseText(fullText);
    const slowStep = () => {
      const until = Date.now() + 300;
      while (Date.now() < until);
    };
    const started = Date.now();
    await storeDataset(db, parsed, { source: 'slow', lockTtlMs: 2000, onProgress: slowStep });
    expect(Date.now() - started).toBeGreaterThan(2500);

    let stolen = false;
    await expect(
      storeDataset(db, parsed, {
        source: 'robbed',
        lockTtlMs: 2000,
        onProgress: () => {
          if (!stolen) void db.set(keys.datasetLock, 'someone else');
          stolen = true;
          slowStep();
        },
      }),
    ).rejects.toThrow(DatasetLockLostError);
    expect(await getSummary(db)).toMatchObject({ state: 'loading', source: 'slow' });
  });

  it('keeps the data across a Redis restart by SIGTERM, and by SIGKILL after an fsync', async () => {
    await storeDataset(db, await parseText(fullText), { source: 'full' });
    await redis.stop();
    await redis.start();
    db = await redis.client();
    await expectOnly(db, full);
    expect(await getSummary(db)).toMatchObject({ version: 1, source: 'full' });

    await storeDataset(db, await parseText(smallText), { source: 'small' });
    await new Promise((r) => setTimeout(r, 1500)); // past one appendfsync everysec
    await redis.kill();
    await redis.start();
    db = await redis.client();
    await expectOnly(db, small);
    expect(await getSummary(db)).toMatchObject({ version: 2, source: 'small' });
  });
});
