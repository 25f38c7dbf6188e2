/**
 * `meteorites:ids` as Redis keeps it: exactly the loaded ids after a load, a reload with other
 * ids and the repair of a half-written load, and an intset (a sorted array of integers, 4 B an
 * id) whenever the server's set-max-intset-entries allows it, as every Redis the project starts
 * does; below the record count it is a hashtable, the load still exact, and the loader says so.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keys, connectRedis, type Redis, type Meteorite } from '@meteorites/shared';
import { INTSET_MAX_ENTRIES } from '@meteorites/tools';
import { getSummary, storeDataset } from '@meteorites/dataset';
import { fullDataset } from '@meteorites/test-utils/env';
import { projectRoot } from '@meteorites/test-utils/process';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { byNumericId, expectedRecords, firstRows, parseNasaCsv } from '@meteorites/test-utils/source-csv';
import { expectExactly, parseText } from '@meteorites/test-utils/stored';

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';

/** `npm run load -- <file>` itself (package.json's command) against `redisUrl`, to its end. */
async function npmRunLoad(redisUrl: string, file: string): Promise<{ code: number | null; output: string }> {
  const child = spawn('npm', ['run', '-s', 'load', '--', file], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: redisUrl },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

/** `ids` as made-up records, in the order given. */
function csvOf(ids: number[]): string {
  return `${[HEADER, ...ids.map((id) => `Synthetic ${id},${id},Valid,L6,${id % 900},Found,${1900 + (id % 100)},1.5,-2.25,`)].join('\n')}\n`;
}

describe('the id set', () => {
  let redis: TestRedis;
  let db: Redis;
  let fullText: string;
  let full: Meteorite[];

  const encoding = () => db.objectEncoding(keys.meteoriteIds);
  const load = async (text: string) => {
    const notices: string[] = [];
    const stored = await storeDataset(db, await parseText(text), { source: 'test', onNotice: (m) => notices.push(m) });
    return { ...stored, notices };
  };

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    fullText = readFileSync(fullDataset().csv, 'utf8');
    full = expectedRecords(fullText);
  });
  afterAll(async () => {
    await redis?.close();
  });
  beforeEach(async (ctx) => {
    // Flushes, CONFIG SET, ACL SETUSER and restarts: only on a Redis the tests started.
    if (!redis.controllable) ctx.skip();
    await db.flushAll();
    await db.configSet('set-max-intset-entries', String(INTSET_MAX_ENTRIES));
  });

  it('is the project’s Redis setting: an intset of exactly NASA’s ids after a load, and after a restart', async () => {
    expect(Number((await db.configGet('set-max-intset-entries'))['set-max-intset-entries'])).toBe(INTSET_MAX_ENTRIES);
    const { records, notices } = await load(fullText);
    expect(records).toBe(full.length);
    expect(notices).toEqual([]);
    await expectExactly(db, full);
    expect(await encoding()).toBe('intset');

    await redis.stop();
    await redis.start();
    db = await redis.client();
    expect(await encoding()).toBe('intset');
    expect(await db.sCard(keys.meteoriteIds)).toBe(full.length);
  });

  it('holds exactly the new ids after a reload with other ids given in any order', async () => {
    await load(fullText);
    // Some of NASA's ids, larger ones it does not use, descending: the set must not follow the input's order.
    const kept = full.filter((_, i) => i % 3 === 0).map((m) => Number(m.id));
    const fresh = Array.from({ length: 3000 }, (_, i) => 2_000_000 + 7 * i);
    const ids = [...kept, ...fresh].sort((a, b) => b - a);
    const text = csvOf(ids);
    await load(text);
    await expectExactly(db, parseNasaCsv(text).sort(byNumericId));
    expect(await encoding()).toBe('intset');
    expect(await db.exists(keys.meteorite(full[1]!.id))).toBe(0);
  });

  it('is rebuilt from scratch by the load that repairs a half-written one', async () => {
    await load(fullText);
    const failing = await parseText(csvOf(Array.from({ length: 20_000 }, (_, i) => 900_001 + i)));
    let steps = 0;
    await expect(
      storeDataset(db, failing, {
        source: 'failing',
        onProgress: () => {
          if (++steps === 2) throw new Error('the pipeline broke');
        },
      }),
    ).rejects.toThrow('the pipeline broke');
    expect(await getSummary(db)).toMatchObject({ state: 'loading' });
    // What a load that died while sending its ids leaves: a part of a set, here one Redis could only keep as a hashtable.
    await db.sAdd(keys.meteoriteIdsNext, ['900003', '17', 'not-an-id']);

    const smallText = firstRows(fullText, 2000);
    const { notices } = await load(smallText);
    await expectExactly(db, expectedRecords(smallText));
    expect(await db.exists(keys.meteoriteIdsNext)).toBe(0);
    expect(await encoding()).toBe('intset');
    expect(notices).toEqual([]);
  });

  it('is a hashtable, still exact, when the server keeps fewer integers as an intset; the loader says so once', async () => {
    await db.configSet('set-max-intset-entries', '512');
    const ids = Array.from({ length: 2000 }, (_, i) => 10 + 3 * i);
    const text = csvOf(ids);
    const { notices } = await load(text);
    await expectExactly(db, parseNasaCsv(text).sort(byNumericId));
    expect(await encoding()).toBe('hashtable');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/set-max-intset-entries \(512\) is below the 2000 records/);

    // At or above the count: an intset and nothing to say.
    await db.configSet('set-max-intset-entries', '2000');
    const again = await load(text);
    expect(await encoding()).toBe('intset');
    expect(again.notices).toEqual([]);
  });

  it('npm run load says so after its summary', async () => {
    await db.configSet('set-max-intset-entries', '512');
    const { code, output } = await npmRunLoad(redis.url, fullDataset().csv);
    expect(code, output).toBe(0);
    expect(output).toMatch(
      new RegExp(
        `^loaded ${full.length} records .*\\n(.*\\n)*note: the server's set-max-intset-entries \\(512\\) is below the ${full.length} records`,
        'm',
      ),
    );
    expect(await encoding()).toBe('hashtable');
    expect(await db.sCard(keys.meteoriteIds)).toBe(full.length);
  });

  it('loads without a word when the user may not read the server’s settings', async () => {
    await db.configSet('set-max-intset-entries', '512');
    await db.sendCommand(['ACL', 'SETUSER', 'no-config', 'on', '>secret', '~*', '&*', '+@all', '-config']);
    const url = new URL(redis.url);
    url.username = 'no-config';
    url.password = 'secret';
    const limited = await connectRedis(url.toString());
    const notices: string[] = [];
    const text = csvOf(Array.from({ length: 1000 }, (_, i) => i + 1));
    try {
      await storeDataset(limited, await parseText(text), { source: 'limited', onNotice: (m) => notices.push(m) });
    } finally {
      await limited.close();
    }
    expect(notices).toEqual([]);
    await expectExactly(db, parseNasaCsv(text).sort(byNumericId));
  });
});
