/**
 * A failover behind a fixed address (a managed service's primary endpoint, a DNS name or a proxy
 * that moves to the new primary): connections opened before it stay on the demoted primary, which
 * answers every write with READONLY. A process must drop such a connection and open a new one
 * (which reaches the new primary), not retry on the old one for ever. The move is real: the old
 * primary becomes a replica of the new one (REPLICAOF), and a TCP proxy stands for the endpoint.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { startTcpProxy, type TcpProxy } from '@meteorites/test-utils/tcp-proxy';
import { buildTestApp } from '@meteorites/test-utils/app';
import type { App } from '@meteorites/api';
import { closeRedis, connectRedis, type Redis } from '@meteorites/shared';

const hostPort = (url: string) => {
  const u = new URL(url);
  return [u.hostname, u.port] as const;
};

/** Polls `attempt` until it resolves; the errors seen meanwhile, or the last one when it never does. */
async function until(attempt: () => Promise<unknown>, ms: number): Promise<{ ok: boolean; errors: string[] }> {
  const errors: string[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      await attempt();
      return { ok: true, errors };
    } catch (err) {
      errors.push((err as Error).message);
      await sleep(100);
    }
  }
  return { ok: false, errors };
}

describe('READONLY after a failover behind a fixed address', () => {
  let a: TestRedis;
  let b: TestRedis;
  let proxy: TcpProxy;
  let app: App;
  let worker: Redis;
  let admin: { a: Redis; b: Redis };

  beforeAll(async () => {
    [a, b] = await Promise.all([startRedis(), startRedis()]);
    admin = { a: await a.client(), b: await b.client() };
    await admin.b.sendCommand(['REPLICAOF', ...hostPort(a.url)]);
    proxy = await startTcpProxy(a.url);
    app = await buildTestApp(proxy.url);
    // The worker's kind of connection: no command timeout of its own.
    worker = await connectRedis(proxy.url, { name: 'readonly-test' });
    expect((await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', params: { n: 1 } } })).statusCode).toBe(202);
    await worker.set('before', '1');
    // The failover: b becomes the primary, a its replica, and the endpoint points at b.
    await admin.b.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    await admin.a.sendCommand(['REPLICAOF', ...hostPort(b.url)]);
    proxy.retarget(b.url);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await closeRedis(worker);
    await proxy?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('a connection left on the demoted primary reconnects and writes to the new one', async () => {
    const { ok, errors } = await until(() => worker.set('after', '1'), 5000);
    expect(ok, `still failing after 5 s: ${errors.at(-1)}`).toBe(true);
    expect(
      errors.every((e) => /READONLY|closed|Socket/i.test(e)),
      errors.join('; '),
    ).toBe(true);
    expect(await admin.b.get('after')).toBe('1');
  });

  it('POST /jobs answers 503 at most briefly, then 202 on the new primary', async () => {
    const statuses: number[] = [];
    const { ok } = await until(async () => {
      const res = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', params: { n: statuses.length + 2 } } });
      statuses.push(res.statusCode);
      if (res.statusCode !== 202) throw new Error(`${res.statusCode} ${res.body}`);
    }, 5000);
    expect(ok, `POST /jobs answered ${statuses.join(',')}`).toBe(true);
  });
});
