/**
 * `fetch`: downloads the Meteorite Landings dataset and replaces FILE with it only when the
 * download arrived whole and parses as a dataset. The bytes go to FILE.partial while they arrive
 * (so a half-written FILE never exists) and are parsed on the way by the loader's own parser;
 * the partial file is renamed over FILE at the end, or removed on any failure.
 */
import { ServiceError } from '@meteorites/shared';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { ApiClient } from '@meteorites/client';
import {
  DatasetFormatError,
  EmptyDatasetError,
  formatFromName,
  parseDataset,
  type InputFormat,
  type ParsedDataset,
} from '@meteorites/dataset';
import { load } from './load.ts';
import { mib, out } from './output.ts';

/** The download cannot replace the file: what went wrong, in words for the user. */
export class DownloadError extends ServiceError {
  override name = 'DownloadError';
  override readonly code = 'download_failed';
}

/** Ctrl-C during the download: the partial file is removed before the process ends. */
export class InterruptedError extends ServiceError {
  override name = 'InterruptedError';
  override readonly code = 'interrupted';
}

export interface FetchOptions {
  url: string;
  out: string;
  load: boolean;
  /** Seconds without a byte from the server (before the answer or during the body) before giving up. */
  timeoutS: number;
}

const LF = 0x0a;
const HTML_TYPE = /^\s*(text\/html|application\/xhtml\+xml)\b/i;

/**
 * What the first bytes say the body is: JSON starts with `{` or `[`, a web page with `<` (no
 * dataset shape does), anything else is read as CSV; undefined while only whitespace has come.
 */
export function sniff(head: Buffer): InputFormat | 'html' | undefined {
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d)) i++;
  if (i >= head.length) return undefined;
  const c = head[i];
  return c === 0x3c ? 'html' : c === 0x7b || c === 0x5b ? 'json' : 'csv';
}

async function sha256Of(file: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch {
    return undefined; // no old file (or unreadable): nothing to compare with
  }
  return hash.digest('hex');
}

/** How many records the file FILE held before, for the summary; undefined if it did not parse. */
async function recordsIn(file: string, format: InputFormat): Promise<number | undefined> {
  try {
    return (await parseDataset(createReadStream(file), format)).columns.length;
  } catch {
    return undefined;
  }
}

/** The cause undici gives for a failed request or a body that broke off (`other side closed`, `ECONNREFUSED ...`). */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string } }).cause;
  return cause?.message || cause?.code || (err as Error).message;
}

export async function fetchDataset(client: ApiClient, opts: FetchOptions): Promise<number> {
  const { url } = opts;
  const partial = `${opts.out}.partial`;
  const controller = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  // A stall, not a slow download, is the failure: the clock restarts with every chunk.
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => controller.abort(new DownloadError(`no data from ${url} for ${opts.timeoutS} s, giving up (--timeout sets how long to wait)`)),
      opts.timeoutS * 1000,
    );
  };
  const onSigint = () => controller.abort(new InterruptedError('interrupted'));
  process.once('SIGINT', onSigint);

  const started = performance.now();
  let file: FileHandle | undefined;
  let bar: cliProgress.SingleBar | undefined;
  let answered = false;
  let received = 0;
  let total: number | undefined;
  let format: InputFormat = 'csv';
  try {
    arm();
    const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/csv, application/json;q=0.9, */*;q=0.1' } });
    answered = true;
    if (!res.ok) throw new DownloadError(`${url} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    const type = res.headers.get('content-type') ?? '';
    if (HTML_TYPE.test(type)) throw new DownloadError(htmlPage(url, `content-type ${type.split(';')[0]!.trim()}`));
    // A compressed body's Content-Length counts the compressed bytes, not the ones read here.
    const length = res.headers.get('content-encoding') ? null : res.headers.get('content-length');
    total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    if (!res.body) throw new DownloadError(`${url} answered no body`);

    try {
      file = await open(partial, 'w');
    } catch (err) {
      throw new DownloadError(`cannot write ${partial}: ${(err as Error).message}`);
    }
    bar = progressBar(total);
    let records = 0;
    const hash = createHash('sha256');
    let lastByte: number | undefined;
    const body = res.body;
    const fh = file;
    const chunks = async function* (): AsyncGenerator<Buffer> {
      for await (const part of body) {
        arm();
        const chunk = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
        if (chunk.length === 0) continue;
        await fh.write(chunk);
        hash.update(chunk);
        received += chunk.length;
        lastByte = chunk[chunk.length - 1];
        bar?.update(total === undefined ? 0 : received, progress(received, records, started));
        yield chunk;
      }
    };

    // The first bytes decide the parser (and catch a web page served under any content type).
    const it = chunks();
    const head: Buffer[] = [];
    let kind: InputFormat | 'html' | undefined;
    while (kind === undefined) {
      const next = await it.next();
      if (next.done) break;
      head.push(next.value);
      kind = sniff(Buffer.concat(head));
    }
    if (kind === undefined) throw new DownloadError(`${url} answered an empty body`);
    if (kind === 'html') throw new DownloadError(htmlPage(url, 'it starts with <'));
    const named = formatFromName(opts.out);
    if (named !== undefined && named !== kind) {
      throw new DownloadError(
        `${url} sent ${kind.toUpperCase()}, but ${opts.out} is named as ${named.toUpperCase()}: give --out a .${kind} name`,
      );
    }
    format = kind;

    let parsed: ParsedDataset;
    try {
      parsed = await parseDataset(
        (async function* () {
          yield* head;
          yield* it;
        })(),
        kind,
        { onProgress: (n) => (records = n) },
      );
    } catch (err) {
      if (err instanceof DatasetFormatError || err instanceof EmptyDatasetError)
        throw new DownloadError(`${url} is not a dataset: ${err.message}`);
      throw err;
    }
    // The body has ended: what follows (hashing, the old file's count) is not the server's stall.
    clearTimeout(idle);
    if (total !== undefined && received !== total)
      throw new DownloadError(`the download of ${url} broke off after ${received} of ${total} bytes`);
    checkLastRow(url, kind, parsed, lastByte);

    await file.sync();
    await file.close();
    file = undefined;
    const digest = hash.digest('hex');
    const before = await sha256Of(opts.out);
    const oldRecords = before !== undefined && before !== digest ? await recordsIn(opts.out, named ?? kind) : undefined;
    await rename(partial, opts.out);
    bar?.update(total === undefined ? 0 : received, progress(received, parsed.columns.length, started));
    bar?.stop();
    bar = undefined;

    const seconds = (performance.now() - started) / 1000;
    const n = parsed.columns.length;
    const was =
      before === undefined
        ? 'new'
        : before === digest
          ? 'unchanged: the same bytes as before'
          : oldRecords !== undefined
            ? `it held ${oldRecords} records before`
            : 'replaced';
    out(
      `fetched ${mib(received)} MiB in ${seconds.toFixed(1)} s (${mib(received / Math.max(seconds, 0.001))} MiB/s) from ${url}: ` +
        `${kind.toUpperCase()} with ${n} records (${parsed.skipped.length} skipped); saved as ${opts.out} (${was}); sha256 ${digest}`,
    );
    if (oldRecords !== undefined && oldRecords > n)
      process.stderr.write(`warning: ${opts.out} now holds fewer records than before (${n}, was ${oldRecords})\n`);
  } catch (err) {
    await file?.close().catch(() => {});
    await rm(partial, { force: true });
    throw explain(err, controller.signal, url, answered, received, total);
  } finally {
    clearTimeout(idle);
    process.off('SIGINT', onSigint);
    bar?.stop();
    // Releases the connection of a body left unread (an error answer, a failed check).
    controller.abort();
  }
  return opts.load ? load(client, opts.out, format) : 0;
}

const htmlPage = (url: string, why: string) =>
  `${url} answered an HTML page (${why}), not the dataset: is the URL right? (data/README.md says how to find the current one)`;

/**
 * A CSV cut off mid-row still parses: its last row is merely short and skipped. The sign of the
 * cut is that row being skipped in a file that does not end with a line break (NASA's does).
 */
function checkLastRow(url: string, kind: InputFormat, parsed: ParsedDataset, lastByte: number | undefined): void {
  if (kind !== 'csv' || lastByte === LF) return;
  const last = parsed.columns.length + parsed.skipped.length - 1;
  const skipped = parsed.skipped.find((s) => s.index === last);
  if (skipped)
    throw new DownloadError(`${url} looks cut off: its last row (record ${last}) is incomplete (${skipped.reason}) and has no line break`);
}

/** Any failure as a message that says what happened to the download. */
function explain(err: unknown, signal: AbortSignal, url: string, answered: boolean, received: number, total: number | undefined): Error {
  if (signal.aborted && (signal.reason instanceof DownloadError || signal.reason instanceof InterruptedError)) return signal.reason;
  if (err instanceof DownloadError || !(err instanceof TypeError)) return err as Error;
  // undici's TypeErrors: `fetch failed` before an answer, `terminated` when the body breaks off.
  if (!answered) return new DownloadError(`cannot download ${url}: ${causeOf(err)}`);
  return new DownloadError(
    `the download of ${url} broke off after ${received}${total !== undefined ? ` of ${total}` : ''} bytes (${causeOf(err)})`,
  );
}

function progress(received: number, records: number, started: number): Record<string, string | number> {
  const seconds = Math.max((performance.now() - started) / 1000, 0.001);
  return { got: mib(received), rate: mib(received / seconds), records };
}

/** On a terminal only: bytes, rate and records parsed so far; a bar when the size is known. */
function progressBar(total: number | undefined): cliProgress.SingleBar | undefined {
  if (!process.stderr.isTTY) return undefined;
  const format =
    total === undefined
      ? 'download {got} MiB | {rate} MiB/s | {records} records'
      : `download |{bar}| {percentage}% | {got}/${mib(total)} MiB | {rate} MiB/s | {records} records`;
  const bar = new cliProgress.SingleBar({ format, hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(Math.max(1, total ?? 1), 0, progress(0, 0, performance.now()));
  return bar;
}
