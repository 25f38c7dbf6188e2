/**
 * `npm run load -- <file|-> [--format csv|json]`: loads a dataset into the Redis at REDIS_URL,
 * replacing the current one. The format comes from the file name (.csv, .json) or --format
 * (required when reading stdin, `-`). On a terminal it shows parse and write progress bars;
 * otherwise it prints one summary line, then the skip reasons grouped with their counts.
 * Exit code 1 with a message on a bad file, an unreachable Redis or a load already running.
 */
import { ServiceError, loadConfig, closeRedis, connectRedis, type Redis, routeOf, confirmReplicas } from '@meteorites/shared';
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { formatFromName, parseDataset, storeDataset, type InputFormat, type Skipped } from '@meteorites/dataset';

const USAGE = 'usage: npm run load -- <file.csv|file.json|-> [--format csv|json]';
const REASONS_SHOWN = 10;

class UsageError extends ServiceError {
  override name = 'UsageError';
  override readonly code = 'usage';
}

/** The skip reasons, most frequent first, each with a count and an example. */
function skipReport(skipped: Skipped[], limit = REASONS_SHOWN): string[] {
  const byReason = new Map<string, { count: number; first: Skipped }>();
  for (const s of skipped) {
    const entry = byReason.get(s.reason);
    if (entry) entry.count++;
    else byReason.set(s.reason, { count: 1, first: s });
  }
  const sorted = [...byReason.entries()].sort((a, b) => b[1].count - a[1].count);
  const lines = sorted
    .slice(0, limit)
    .map(
      ([reason, { count, first }]) => `  ${count} × ${reason} (e.g. record ${first.index}${first.id === null ? '' : `, id ${first.id}`})`,
    );
  if (sorted.length > limit) lines.push(`  ... and ${sorted.length - limit} more reasons`);
  return lines;
}

function options(argv: string[]): { path: string; format: InputFormat } {
  const { values, positionals } = parseArgs({ args: argv, options: { format: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError(USAGE);
  const path = positionals[0]!;
  if (values.format !== undefined && values.format !== 'csv' && values.format !== 'json') {
    throw new UsageError(`--format must be csv or json, not ${JSON.stringify(values.format)}\n${USAGE}`);
  }
  const format = (values.format as InputFormat | undefined) ?? (path === '-' ? undefined : formatFromName(path));
  if (!format) {
    throw new UsageError(
      path === '-'
        ? `reading stdin needs --format csv|json\n${USAGE}`
        : `cannot tell the format of ${path} from its name: add --format csv|json`,
    );
  }
  return { path, format };
}

/** Counts bytes as they are read, for the parse bar. */
async function* counted(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

async function load(redis: Redis, path: string, format: InputFormat, tty: boolean): Promise<void> {
  const stdin = path === '-';
  const size = stdin ? 0 : statSync(path).size;
  const source = stdin ? (process.stdin as AsyncIterable<Buffer>) : createReadStream(path, { highWaterMark: 256 * 1024 });
  const started = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  let bytes = 0;
  let records = 0;

  if (tty) {
    bar = new cliProgress.SingleBar(
      { format: stdin ? 'parse | {records} records' : 'parse |{bar}| {percentage}% | {records} records', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(1, size), 0, { records: 0 });
  }
  const parsed = await parseDataset(
    counted(source, (n) => {
      bytes += n;
      bar?.update(Math.min(bytes, Math.max(1, size)), { records });
    }),
    format,
    { onProgress: (n) => (records = n) },
  ).finally(() => bar?.stop());

  if (tty) {
    bar = new cliProgress.SingleBar(
      { format: 'write |{bar}| {percentage}% | {value}/{total} records', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(parsed.columns.length, 0);
  }
  const notices: string[] = [];
  const stored = await storeDataset(redis, parsed, {
    source: stdin ? 'stdin' : basename(path),
    onProgress: (written) => bar?.update(written),
    // Shown after the summary, not through a progress bar.
    onNotice: (message) => notices.push(message),
  }).finally(() => bar?.stop());
  // REDIS_MIN_REPLICAS_ACK: a load is reported done only once replicas have it (a failover keeps it).
  await confirmReplicas(redis, loadConfig());

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`loaded ${stored.records} records (version ${stored.version}) in ${seconds} s; skipped ${parsed.skipped.length}`);
  for (const line of skipReport(parsed.skipped)) console.log(line);
  for (const message of notices) console.log(`note: ${message}`);
}

async function main(): Promise<number> {
  let redis: Redis | undefined;
  try {
    const { path, format } = options(process.argv.slice(2));
    const config = loadConfig();
    if (!config.REDIS_URL) {
      throw new UsageError('REDIS_URL is not set: point it at a Redis, e.g. REDIS_URL=redis://127.0.0.1:6379 npm run load -- <file>');
    }
    redis = await connectRedis(config.REDIS_URL, {
      connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
      name: 'load',
      ...routeOf(config),
    });
    await load(redis, path, format, Boolean(process.stdout.isTTY));
    return 0;
  } catch (err) {
    console.error(`load failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await closeRedis(redis);
  }
}

process.exitCode = await main();
