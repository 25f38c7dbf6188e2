/**
 * `npm start` on a database whose first load never finished: the state a Ctrl-C (or a crash)
 * during the first start's load leaves in Redis' AOF. The next start must load the data, not
 * report an empty dataset for ever; a dataset that is there is never loaded over.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRedis, connectRedis, keys } from '@meteorites/shared';
import { RedisServer } from '@meteorites/tools';
import { alive, startService, type StartedService } from '@meteorites/test-utils/service';

const SAMPLE = 'data/sample.json';
const sampleSize = (
  JSON.parse(readFileSync(new URL('../../data/sample.json', import.meta.url), 'utf8')) as { meteorite_landings: unknown[] }
).meteorite_landings.length;

let service: StartedService | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await service?.kill();
  service = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A DATA_DIR whose Redis holds only the `dataset` hash given, written to its AOF by a clean shutdown. */
async function dataDirWith(dataset: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'meteorites-start-'));
  mkdirSync(join(dir, 'redis'));
  const redis = new RedisServer({ dataDir: join(dir, 'redis') });
  await redis.start();
  const client = await connectRedis(redis.url);
  await client.hSet(keys.dataset, dataset);
  await closeRedis(client);
  await redis.stop();
  return dir;
}

async function summary(url: string) {
  return (await (await fetch(`${url}/data/summary`)).json()) as { version: number; records: number; state: string };
}

describe('npm start and the first load', () => {
  it('loads again when the last load never finished (state "loading", no records)', async () => {
    dataDir = await dataDirWith({ version: '1', state: 'loading', records: '0' });
    service = await startService({ DATA_DIR: dataDir, SAMPLE_DATA: SAMPLE });
    expect(await summary(service.url)).toMatchObject({ state: 'ready', records: sampleSize, version: 2 });
    expect(service.output()).toMatch(/loaded 38 records from data\/sample\.json/);
    // The service's Redis runs in the DATA_DIR given, and stopping the service stops it too.
    const redisPid = service.redisPid();
    expect(readFileSync(join(dataDir, 'redis', 'redis-server.pid'), 'utf8').trim()).toBe(String(redisPid));
    await service.kill();
    expect(alive(redisPid)).toBe(false);
  });

  it('never loads over a dataset that is there, nor after a deliberate delete', async () => {
    const datasets: Record<string, string>[] = [
      { version: '3', state: 'ready', records: '12', source: 'mine.csv' },
      { version: '4', state: 'empty', records: '0' },
    ];
    for (const dataset of datasets) {
      dataDir = await dataDirWith(dataset);
      service = await startService({ DATA_DIR: dataDir, SAMPLE_DATA: SAMPLE });
      expect(await summary(service.url)).toMatchObject({ version: Number(dataset.version), records: Number(dataset.records) });
      await service.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
