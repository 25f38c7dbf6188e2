/**
 * LOG_FORMAT as the processes apply it: the API and a worker started as `npm run api` and
 * `npm run worker` start them, their stdout a pipe (not a terminal, so without the setting they
 * would write JSON), read line by line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@meteorites/shared';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { projectRoot } from '@meteorites/test-utils/process';
import { startService } from '@meteorites/test-utils/service';

interface Running {
  proc: ChildProcess;
  lines(): string[];
}

const running: ChildProcess[] = [];

function start(entry: string, env: Record<string, string>): Running {
  const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, lines: () => out.split('\n').filter((l) => l !== '') };
}

async function startApi(redisUrl: string, format: 'pretty' | 'json'): Promise<{ api: Running; base: string }> {
  const port = await freePort();
  const api = start('api/src/server.ts', { REDIS_URL: redisUrl, PORT: String(port), LOG_FORMAT: format });
  const base = `http://127.0.0.1:${port}`;
  await expect
    .poll(
      () =>
        fetch(`${base}/ready`).then(
          (r) => r.status,
          () => 0,
        ),
      { timeout: 60_000, interval: 200 },
    )
    .toBe(200);
  return { api, base };
}

describe('LOG_FORMAT', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(running.map((p) => (p.exitCode === null && p.signalCode === null ? once(p, 'exit') : undefined)));
    await redis?.close();
  });

  it('pretty: the API writes one readable line per request, and no JSON', async () => {
    const { api, base } = await startApi(redis.url, 'pretty');
    expect((await fetch(`${base}/meteorites/1?fields=name`)).status).toBe(404);
    const request = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(api\): GET \/meteorites\/1\?fields=name 404 \d+(\.\d)? ms$/;
    await expect.poll(() => api.lines().filter((l) => l.includes('/meteorites/1')), { timeout: 10_000 }).toHaveLength(1);
    expect(api.lines().find((l) => l.includes('/meteorites/1'))).toMatch(request);
    // Fastify's own pair is not written, and nothing is JSON or coloured (stdout is not a terminal).
    expect(api.lines().join('\n')).not.toMatch(/incoming request|request completed/);
    expect(api.lines().join('\n')).not.toContain('\u001b[');
    for (const line of api.lines()) expect(line, line).not.toMatch(/^\{/);
  });

  it('pretty: the worker writes readable lines too', async () => {
    const worker = start('worker/src/main.ts', { REDIS_URL: redis.url, LOG_FORMAT: 'pretty' });
    await expect.poll(() => worker.lines().find((l) => l.includes('worker started')), { timeout: 60_000 }).toBeDefined();
    expect(worker.lines().find((l) => l.includes('worker started'))).toMatch(
      /^\[[\d:.]+\] INFO \(worker\): worker started \{"concurrency":\d+,/,
    );
    for (const line of worker.lines()) expect(line, line).not.toMatch(/^\{/);
  });

  it('json: every line is a JSON object, requests logged as Fastify does', async () => {
    const { api, base } = await startApi(redis.url, 'json');
    expect((await fetch(`${base}/meteorites/1`)).status).toBe(404);
    await expect
      .poll(() => api.lines().some((l) => l.includes('request completed') && l.includes('"statusCode":404')), { timeout: 10_000 })
      .toBe(true);
    const parsed = api.lines().map((l) => JSON.parse(l) as { level: number; msg: string; req?: { url: string } });
    expect(parsed.find((l) => l.msg === 'incoming request' && l.req?.url === '/meteorites/1')).toBeDefined();
  });

  it("npm start with LOG_FORMAT=pretty: its [start] lines and the children's readable lines, nothing else", async () => {
    const service = await startService({ LOG_LEVEL: 'info', LOG_FORMAT: 'pretty', SAMPLE_DATA: 'data/sample.json' });
    try {
      expect((await fetch(`${service.url}/`)).status).toBe(200);
      await expect.poll(() => service.output().includes('INFO (api): GET / 200 '), { timeout: 10_000 }).toBe(true);
      const lines = service
        .output()
        .split('\n')
        .filter((l) => l !== '');
      const pretty = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN) \((api|worker)\): \S/;
      for (const line of lines) expect(line, line).toMatch(/^\[start\] /.test(line) ? /^\[start\] / : pretty);
      expect(lines).toContainEqual(expect.stringMatching(/INFO \(worker\): worker started/));
      expect(lines).toContainEqual(expect.stringMatching(/INFO \(api\): POST \/data\?source=data%2Fsample\.json 201 /));
    } finally {
      await service.interrupt();
      await service.kill();
    }
  });
});
