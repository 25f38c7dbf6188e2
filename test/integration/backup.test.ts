/**
 * Backup and restore end to end, with the real commands (`npm run backup`, `npm run restore`)
 * against a password-protected redis-server: the full dataset and jobs in every state are backed
 * up, deleted, restored into the server's data directory, and come back exactly: the dataset
 * (every record, byte for byte through GET /data), every job, every result. The queued jobs then
 * run. Plus the refusals: a file that is not a whole RDB, a restore without a data directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, rmSync, truncateSync, copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { loadable, readNasaCsv } from '@meteorites/test-utils/source-csv';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { runToExit } from '@meteorites/test-utils/process';
import type { App } from '@meteorites/api';
import { type Redis, keys } from '@meteorites/shared';
import { BackupError, backupRdb, checkRdb, restoreRdb } from '@meteorites/tools';

const runScript = (script: string, args: string[], env: Record<string, string>) => runToExit([`scripts/${script}.ts`, ...args], env);

/** Everything a client can see of the service's data, to compare before and after. */
async function visibleState(app: App) {
  const summary = (await app.inject('/data/summary')).json();
  const data = await app.inject('/data');
  expect(data.statusCode).toBe(200);
  const jobs = (await app.inject('/jobs?limit=1000')).json().items as { id: string; status: string }[];
  const results: Record<string, unknown> = {};
  for (const job of jobs.filter((j) => j.status === 'finished')) results[job.id] = (await app.inject(`/results/${job.id}`)).json();
  return {
    summary,
    records: (data.json() as unknown[]).length,
    dataSha256: createHash('sha256').update(data.rawPayload).digest('hex'),
    jobs,
    results,
  };
}

describe('npm run backup / npm run restore', () => {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  let redis: TestRedis;
  let db: Redis;
  let app: App;
  let worker: WorkerProcess;
  let backupDir: string;
  let expectedRecords: number;

  beforeAll(async () => {
    const { csv } = fullDataset();
    expectedRecords = readNasaCsv(csv).filter(loadable).length;
    backupDir = mkdtempSync(join(tmpdir(), 'meteorites-backups-'));
    redis = await startRedis({ password });
    db = await redis.client();
    [app, worker] = await Promise.all([buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true }), spawnWorker(redis.url)]);
  });
  afterAll(async () => {
    await app?.close();
    await killAllWorkers();
    const dataDir = redis?.dataDir;
    await redis?.close();
    rmSync(backupDir, { recursive: true, force: true });
    // The directories restore moved aside, beside the server's own temporary one.
    if (dataDir) {
      for (const entry of readdirSync(dirname(dataDir))) {
        if (entry.startsWith(`${basename(dataDir)}.`)) rmSync(join(dirname(dataDir), entry), { recursive: true, force: true });
      }
    }
  });

  it('backs up the full dataset and jobs, and restores all of them after they were deleted', async (ctx) => {
    if (!redis.dataDir) ctx.skip('restore writes a data directory: this needs the local redis-server, not a container or TEST_REDIS_URL');
    const { csv } = fullDataset();
    const loaded = await app.inject({
      method: 'POST',
      url: '/data?source=full.csv',
      headers: { 'content-type': 'text/csv' },
      payload: createReadStream(csv),
    });
    expect(loaded.statusCode, loaded.body).toBe(201);
    expect(loaded.json().records).toBe(expectedRecords);

    // Jobs in every state a backup may catch: finished (with results), failed, cancelled, and queued.
    const submit = async (analysis: string, params: Record<string, unknown> = {}) => {
      const res = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis, params } });
      expect(res.statusCode, res.body).toBe(202);
      return res.json().id as string;
    };
    const ended = [
      await submit('mass-by-class'),
      await submit('mass-by-year', { bin: 10 }),
      await submit('heaviest', { n: 25 }),
      await submit('geo-grid', { cell_deg: 10 }),
      await submit('test-sleep', { steps: 1, step_ms: 10, fail: 'on purpose' }),
    ];
    for (const [i, id] of ended.entries()) {
      const job = (await app.inject(`/jobs/${id}?wait=30`)).json();
      expect(job.status, JSON.stringify(job)).toBe(i < ended.length - 1 ? 'finished' : 'failed');
    }
    await worker.stop();
    const cancelled = await submit('mass-by-fall');
    expect((await app.inject({ method: 'DELETE', url: `/jobs/${cancelled}` })).statusCode).toBe(200);
    const queued = [await submit('mass-by-year', { bin: 100 }), await submit('heaviest', { n: 3 })];

    const before = await visibleState(app);
    expect(before.records).toBe(expectedRecords);
    expect(new Set(before.jobs.map((j) => j.status))).toEqual(new Set(['finished', 'failed', 'cancelled', 'queued']));
    const keysBefore = await db.dbSize();

    let t0 = Date.now();
    const backup = await runScript('backup', [], { REDIS_URL: redis.url, BACKUP_DIR: backupDir });
    const backupMs = Date.now() - t0;
    expect(backup.code, backup.output).toBe(0);
    expect(backup.output).toContain(`dataset when the backup began: ${expectedRecords} records`);
    expect(backup.output).not.toContain(password);
    const files = readdirSync(backupDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^meteorites-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.rdb$/);
    const file = join(backupDir, files[0]!);
    checkRdb(file);

    // Gone: the dataset through the API, the jobs and results by their keys.
    const deleted = await app.inject({ method: 'DELETE', url: '/data' });
    expect(deleted.json().removed).toBe(expectedRecords);
    for (const pattern of ['job:*', 'jobs:*', 'result:*']) {
      for await (const batch of db.scanIterator({ MATCH: pattern, COUNT: 1000 })) if (batch.length) await db.unlink(batch);
    }
    expect((await app.inject('/data/summary')).json().records).toBe(0);
    expect((await app.inject('/jobs')).json().items).toEqual([]);
    expect((await app.inject(`/results/${ended[0]}`)).statusCode).toBe(404);

    await redis.stop();
    t0 = Date.now();
    const restore = await runScript('restore', [file, '--data-dir', redis.dataDir!], {});
    const restoreMs = Date.now() - t0;
    expect(restore.code, restore.output).toBe(0);
    expect(restore.output).toContain(`restored ${keysBefore} keys`);
    await redis.start();
    await expect.poll(async () => (await app.inject('/ready')).statusCode, { timeout: 30_000 }).toBe(200);

    // The app that was running all along reconnected and sees everything as it was.
    const after = await visibleState(app);
    expect(after.records).toBe(expectedRecords);
    expect(after.summary).toEqual(before.summary);
    expect(after.dataSha256).toBe(before.dataSha256);
    expect(after.jobs).toEqual(before.jobs);
    expect(after.results).toEqual(before.results);
    expect(await db.sCard(keys.meteoriteIds)).toBe(expectedRecords);
    expect(await db.dbSize()).toBe(keysBefore);
    console.log(
      `backup/restore: ${after.records} records, ${after.jobs.length} jobs, ${Object.keys(after.results).length} results, ${keysBefore} keys ` +
        `(${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB RDB): all back; npm run backup ${(backupMs / 1000).toFixed(1)} s, npm run restore ${(restoreMs / 1000).toFixed(1)} s`,
    );

    // The restored data sits in the AOF: it survives a restart, and the queued jobs still run.
    await redis.stop();
    await redis.start();
    await spawnWorker(redis.url);
    for (const id of queued) {
      await expect.poll(async () => (await app.inject(`/jobs/${id}?wait=5`)).json().status, { timeout: 60_000 }).toBe('finished');
    }
    expect((await app.inject('/data/summary')).json().records).toBe(expectedRecords);
  });

  it('also takes the snapshot as a server without diskless replication sends it (`$<length>`, from its disk)', async (ctx) => {
    if (!redis.dataDir) ctx.skip('restore writes a data directory: this needs the local redis-server');
    const target = mkdtempSync(join(tmpdir(), 'meteorites-disk-sync-'));
    await db.configSet('repl-diskless-sync', 'no');
    try {
      const file = join(target, 'disk.rdb');
      expect(await backupRdb(db, file)).toBe(statSync(file).size);
      const { keys: restored } = await restoreRdb(file, join(target, 'data'));
      expect(restored).toBe(await db.dbSize());
    } finally {
      await db.configSet('repl-diskless-sync', 'yes');
      rmSync(target, { recursive: true, force: true });
    }
  });

  it('refuses to restore a file that is not a whole RDB, and changes nothing', async () => {
    const target = mkdtempSync(join(tmpdir(), 'meteorites-restore-'));
    try {
      const notRdb = join(target, 'not.rdb');
      copyFileSync(fileURLToPath(new URL('../../data/sample.json', import.meta.url)), notRdb);
      await expect(restoreRdb(notRdb, join(target, 'data'))).rejects.toThrow(BackupError);
      const [backup] = readdirSync(backupDir);
      if (backup) {
        const cut = join(target, 'cut.rdb');
        copyFileSync(join(backupDir, backup), cut);
        truncateSync(cut, Math.floor(statSync(cut).size / 2));
        await expect(restoreRdb(cut, join(target, 'data'))).rejects.toThrow(/not a complete RDB/);
      }
      expect(readdirSync(target).sort()).toEqual(backup ? ['cut.rdb', 'not.rdb'] : ['not.rdb']);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  it('npm run restore without --data-dir refuses when REDIS_URL names a server: it cannot restore over the network', async () => {
    const { code, output } = await runScript('restore', ['whatever.rdb'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(code).toBe(1);
    expect(output).toMatch(/pass --data-dir/);
  });
});
