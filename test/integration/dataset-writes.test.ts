/**
 * How a load writes the record hashes: a RESTORE of a payload the loader builds when the server
 * passes the check at the start of the load, HSET otherwise (an older or differently configured
 * Redis, a user not allowed RESTORE, a record the payloads do not cover). Either way Redis ends
 * up with the same hashes; the HSET path keeps its own replace and repair rules.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { RESP_TYPES } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { idsOf, connectRedis, type Redis, keys, type Meteorite } from '@meteorites/shared';
import { parseDataset, getSummary, storeDataset, type StoreOptions } from '@meteorites/dataset';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { fullDataset } from '@meteorites/test-utils/env';
import { byNumericId, expectedRecords, firstRows, parseNasaCsv } from '@meteorites/test-utils/source-csv';
import { expectExactly, parseText } from '@meteorites/test-utils/stored';

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong';

/** DUMP of every `ids` hash, as hex. */
async function dumps(db: Redis, ids: readonly string[]): Promise<string[]> {
  const binary = db.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += 2000) {
    const batch = (await Promise.all(ids.slice(i, i + 2000).map((id) => binary.dump(keys.meteorite(id))))) as unknown as (Buffer | null)[];
    for (const d of batch) out.push(d?.toString('hex') ?? 'missing');
  }
  return out;
}

describe('how a load writes the record hashes', () => {
  let redis: TestRedis;
  let db: Redis;
  let fullText: string;
  let smallText: string;
  let small: Meteorite[];

  const restores = async () => Number(/cmdstat_restore:calls=(\d+)/.exec(await db.info('commandstats'))?.[1] ?? 0);
  const load = async (text: string, opts: Partial<StoreOptions> = {}) =>
    storeDataset(db, await parseText(text), { source: 'test', ...opts });

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    fullText = readFileSync(fullDataset().csv, 'utf8');
    smallText = firstRows(fullText, 2000);
    small = expectedRecords(smallText);
  });
  afterAll(async () => {
    await redis?.close();
  });
  beforeEach(async (ctx) => {
    // Flushes, CONFIG SET and ACL SETUSER: only on a Redis the tests started.
    if (!redis.controllable) ctx.skip();
    await db.flushAll();
    await db.configResetStat();
  });

  it('RESTOREs every NASA record as exactly the hash HSET makes, byte for byte', async () => {
    const parsed = await parseDataset(createReadStream(fullDataset().csv), 'csv');
    const ids = idsOf(parsed.columns);
    await storeDataset(db, parsed, { source: 'hset', hashWrites: 'hset' });
    expect(await restores()).toBe(0);
    const made = await dumps(db, ids);
    await db.flushAll();
    await storeDataset(db, parsed, { source: 'restore' });
    expect(await restores()).toBeGreaterThanOrEqual(ids.length);
    const restored = await dumps(db, ids);
    const differing = ids.filter((_, i) => restored[i] !== made[i]);
    expect(differing).toEqual([]);
  });

  it('writes with HSET, in the same load, the records the payloads do not cover', async () => {
    // What one load of one plain record RESTOREs: that record and the check's samples.
    await load(`${HEADER}\nPlain,1,Valid,L5,21,Fell,1880,50.775,6.08333`);
    const perLoad = await restores();
    await db.configResetStat();
    const longName = `Meteorite with a name longer than a listpack value ${'x'.repeat(20)}`;
    const text = [
      HEADER,
      'Plain,1,Valid,L5,21,Fell,1880,50.775,6.08333',
      `${longName},2,Valid,H5,3.5,Found,2001,-1,-2`,
      '1234567890123456,3,Relict,,,,,,',
    ].join('\n');
    await load(text);
    expect(await restores()).toBe(perLoad);
    const records = parseNasaCsv(text).sort(byNumericId);
    await expectExactly(db, records);
    // As HSET would have it: a value over hash-max-listpack-value (64) makes the hash a hashtable.
    expect(await db.sendCommand(['OBJECT', 'ENCODING', keys.meteorite('2')])).toBe('hashtable');

    // Replacing them: HSET over the old hash, HDEL of the fields the new record lacks.
    const sparser = [
      HEADER,
      'Plain,1,Valid,L5,21,Fell,1880,50.775,6.08333',
      `${longName},2,Valid,,,Found,,,`,
      '1234567890123456,3,Relict,H4,,,1999,,',
    ].join('\n');
    await load(sparser);
    await expectExactly(db, parseNasaCsv(sparser).sort(byNumericId));
  });

  it('uses HSET when the user may not RESTORE', async () => {
    await db.sendCommand(['ACL', 'SETUSER', 'no-restore', 'on', '>secret', '~*', '&*', '+@all', '-restore']);
    const url = new URL(redis.url);
    url.username = 'no-restore';
    url.password = 'secret';
    const limited = await connectRedis(url.toString());
    try {
      await storeDataset(limited, await parseText(smallText), { source: 'limited' });
    } finally {
      await limited.close();
    }
    expect(await restores()).toBe(0);
    await expectExactly(db, small);
  });

  it('uses HSET when the server encodes hashes otherwise than the payloads', async () => {
    const before = (await db.configGet('hash-max-listpack-value'))['hash-max-listpack-value'] ?? '64';
    await db.configSet('hash-max-listpack-value', '16');
    try {
      await load(smallText);
    } finally {
      await db.configSet('hash-max-listpack-value', before);
    }
    expect(await restores()).toBe(0);
    await expectExactly(db, small);
  });

  describe('with HSET', () => {
    it('a replace leaves no field of the record it replaces, and adds the new ones', async () => {
      await load(`${HEADER}\nOld,1,Valid,L5,21,Fell,1880,50.775,6.08333\nSparse,2,,,,,,,\n`, { hashWrites: 'hset' });
      await load(`${HEADER}\nNew,1,Relict,,,Found,,,\nFull,2,Valid,H5,3.5,Fell,2001,-1,-2\n`, { hashWrites: 'hset' });
      expect(await restores()).toBe(0);
      expect(await db.hGetAll(keys.meteorite('1'))).toEqual({ name: 'New', id: '1', nametype: 'Relict', fall: 'Found' });
      expect(await db.hGetAll(keys.meteorite('2'))).toEqual({
        name: 'Full',
        id: '2',
        nametype: 'Valid',
        recclass: 'H5',
        mass_g: '3.5',
        fall: 'Fell',
        year: '2001',
        reclat: '-1',
        reclong: '-2',
      });
    });

    it('a load after one that failed half way repairs everything', async () => {
      await load(fullText, { hashWrites: 'hset' });
      // A hash the failed load leaves with a field no record of the next load has.
      await db.hSet(keys.meteorite(small[0]!.id), 'stray', 'x');
      let steps = 0;
      await expect(
        load(fullText, {
          hashWrites: 'hset',
          onProgress: () => {
            if (++steps === 2) throw new Error('the pipeline broke');
          },
        }),
      ).rejects.toThrow('the pipeline broke');
      expect((await getSummary(db)).state).toBe('loading');
      await load(smallText, { hashWrites: 'hset' });
      expect(await restores()).toBe(0);
      await expectExactly(db, small);
    });
  });
});
