import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@meteorites/shared';
import { serverOptions } from './app.ts';
import { ShortRequestLog, shownMs } from './request-log.ts';

describe('request logging', () => {
  it("pretty logs use the short request log, JSON logs keep Fastify's", () => {
    expect(serverOptions(loadConfig({ LOG_FORMAT: 'pretty' })).logController).toBeInstanceOf(ShortRequestLog);
    const json = serverOptions(loadConfig({ LOG_FORMAT: 'json' }));
    expect(json.logController).toBeUndefined();
    expect(json.logger).toEqual({ level: 'info' });
  });

  it('writes one line per request: method, URL, status and time', async () => {
    const lines: { level: number; msg: string }[] = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line)) };
    const app = Fastify({ logger: { level: 'info', stream }, logController: new ShortRequestLog() });
    app.get('/ok', async () => ({ ok: true }));
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    await app.ready();
    lines.length = 0;
    await app.inject('/ok?x=1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: expect.stringMatching(/^GET \/ok\?x=1 200 \d+(\.\d)? ms$/) });

    lines.length = 0;
    await app.inject('/boom');
    // The error handler's own line (error level, with the stack), then the request line.
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [50, 'boom'],
      [30, expect.stringMatching(/^GET \/boom 500 \d+(\.\d)? ms$/)],
    ]);
    await app.close();
  });

  it('shows milliseconds with one decimal below 10, whole above', () => {
    expect(shownMs(0.04)).toBe('0.0');
    expect(shownMs(3.26)).toBe('3.3');
    expect(shownMs(12.6)).toBe('13');
  });
});
