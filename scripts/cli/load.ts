/** `load`: streams a dataset file to POST /data, with a progress bar on a terminal. */
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import cliProgress from 'cli-progress';
import { ok, type ApiClient } from '@meteorites/client';
import { mib, out } from './output.ts';

async function* counted(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** Streams the file as the request body: progress is bytes handed to the connection, not bytes read ahead. */
export async function load(client: ApiClient, file: string, format: 'csv' | 'json'): Promise<number> {
  const size = statSync(file).size;
  const started = performance.now();
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: '{phase} |{bar}| {percentage}% | {sent}/{size} MiB', hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(Math.max(1, size), 0, { phase: 'upload', sent: mib(0), size: mib(size) });
  let sent = 0;
  const body = counted(createReadStream(file, { highWaterMark: 256 * 1024 }), (n) => {
    sent += n;
    // The last bytes sent: the service now validates and stores while the bar waits at 100 %.
    bar?.update(sent, { phase: sent >= size ? 'store ' : 'upload', sent: mib(sent) });
  });
  const loaded = await ok(
    client.POST('/data', {
      params: { query: { source: basename(file) } },
      body: Readable.toWeb(Readable.from(body)) as never,
      bodySerializer: (b) => b,
      headers: { 'content-type': format === 'csv' ? 'text/csv' : 'application/json' },
      duplex: 'half',
    }),
  ).finally(() => bar?.stop());
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  out(
    `loaded ${loaded.records} records (version ${loaded.version}) from ${basename(file)} (${mib(size)} MiB) in ${seconds} s; skipped ${loaded.skipped_total}`,
  );
  const reasons = new Map<string, number>();
  for (const s of loaded.skipped) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
  for (const [reason, count] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 10)) out(`  ${count} × ${reason}`);
  return 0;
}
