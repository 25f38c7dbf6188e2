/**
 * One reader of the event stream per API process, fanning out to every open SSE stream: the
 * reader holds the only blocking connection (XREAD BLOCK), so a thousand open streams cost one
 * Redis connection, not a thousand. Each event is formatted once, as SSE text, and the same
 * string is written to every stream that wants it.
 *
 * A stream that resumes (`Last-Event-ID`) is registered first and buffers what the reader
 * delivers, then reads what it missed with XRANGE on the shared connection; what the buffer adds
 * on top of that follows, each id once, in order. Nothing falls between the two: the buffer holds
 * every entry after the reader's position at registration, and XRANGE every entry still in the
 * stream after the client's id. When the stream no longer holds everything after the client's
 * id (trimmed past it, or the stream was lost and started again), the client gets one `reset`
 * event instead, and live events after it. An entry may hold several events (one queue step's):
 * each is sent with its own id (`<entry>.<n>`), and a client resuming inside such an entry gets the
 * rest of it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { compareStreamIds, eventsFromEntry, keys, isRedisUnavailable, splitEventId } from '@meteorites/shared';
import type { ServiceEvent, Redis } from '@meteorites/shared';

/** Where an SSE stream's text goes. */
export interface Sink {
  /** Sends the response head (once) and the text; false when the client is gone or was cut off. */
  write(text: string): boolean;
  /** Ends the response. */
  end(): void;
}

interface Formatted extends ServiceEvent {
  text: string;
}

const TERMINAL = new Set(['finished', 'failed', 'cancelled']);
/** Entries one XREAD or XRANGE asks for. */
const BATCH = 500;
/** How long one XREAD blocks: short enough that a dead connection is noticed, long enough to cost nothing idle. */
const BLOCK_MS = 5000;

export function formatEvent(e: ServiceEvent): string {
  // JSON.stringify never emits a raw newline, so the data is always one `data:` line.
  return `id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

const reset = (id: string, reason: string) => formatEvent({ id, event: 'reset', data: { reason, at: new Date().toISOString() } });

type Entry = [string, string[]];

export class Subscription {
  /** Events the reader delivered while the backlog was read; null once live. */
  #pending: Formatted[] | null = [];
  #lastSent: string | undefined;
  #closed = false;

  constructor(
    readonly hub: EventHub,
    readonly sink: Sink,
    /** Only this job's events, and the stream ends after its terminal one. */
    readonly job: string | undefined,
    /** The reader's position at registration: every later entry reaches this subscription. */
    readonly from: string,
    /** The client's Last-Event-ID: the reader may not have reached it yet (another process sent it). */
    readonly since?: string,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** From the reader (already filtered by job). */
  deliver(e: Formatted): void {
    if (this.#pending) this.#pending.push(e);
    else this.#send(e);
  }

  /** Writes the backlog (or a reset), then what arrived meanwhile, and goes live. */
  start(backlog: readonly Formatted[], behind: boolean): void {
    if (this.#closed) return;
    if (behind) {
      // Everything after `from` comes next, live: a reconnect from here loses nothing more.
      this.#write(reset(this.from, 'behind'));
      this.#lastSent = this.from;
    } else {
      // The response head and a first line now, so a client knows it is subscribed.
      this.#write(': connected\n\n');
      this.#lastSent = this.since;
      for (const e of backlog) this.#send(e);
    }
    const pending = this.#pending ?? [];
    this.#pending = null;
    for (const e of pending) this.#send(e);
  }

  /** Sends one event outside the stream (a job that ended before the request) and ends. */
  finish(text: string): void {
    this.#write(text);
    this.close();
  }

  /** A reset for a live subscription: the reader itself missed entries. */
  reset(at: string): void {
    if (this.#pending) return; // its own backlog read decides
    this.#write(reset(at, 'behind'));
    this.#lastSent = at;
  }

  ping(): void {
    if (!this.#pending) this.#write(': ping\n\n');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.hub.forget(this);
    this.sink.end();
  }

  #send(e: Formatted): void {
    if (this.#lastSent !== undefined && compareStreamIds(e.id, this.#lastSent) <= 0) return;
    this.#lastSent = e.id;
    this.#write(e.text);
    if (this.job !== undefined && TERMINAL.has(e.event)) this.close();
  }

  #write(text: string): void {
    if (this.#closed) return;
    if (!this.sink.write(text)) this.close();
  }
}

export interface HubOptions {
  /** A connection of its own: it blocks in XREAD. */
  reader: Redis;
  /** The shared connection, for the backlog reads. */
  redis: Redis;
  log: FastifyBaseLogger;
  heartbeatMs: number;
}

export class EventHub {
  readonly #all = new Set<Subscription>();
  readonly #byJob = new Map<string, Set<Subscription>>();
  #last = '0-0';
  #closed = false;
  #loop: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Set after a failed read: the next good one first checks whether entries were trimmed meanwhile. */
  #interrupted = false;

  constructor(private readonly opts: HubOptions) {}

  /** The reader's position: the last entry it delivered (or the stream's end when it started). */
  get position(): string {
    return this.#last;
  }

  get size(): number {
    let n = this.#all.size;
    for (const s of this.#byJob.values()) n += s.size;
    return n;
  }

  async start(): Promise<void> {
    const info = await streamInfo(this.opts.redis);
    this.#last = info?.lastGenerated ?? '0-0';
    this.#loop = this.#run();
    this.#heartbeat = setInterval(() => {
      for (const s of this.#subscriptions()) s.ping();
    }, this.opts.heartbeatMs).unref();
  }

  /**
   * Registers a stream (filtered to `job` if given) and reads what it missed since `since`; it
   * buffers until start(). Throws what Redis throws (the caller answers 503): then nothing stays
   * registered.
   */
  async subscribe(
    sink: Sink,
    opts: { job?: string; since?: string },
  ): Promise<{ sub: Subscription; backlog: Formatted[]; behind: boolean }> {
    const sub = new Subscription(this, sink, opts.job, this.#last, opts.since);
    if (opts.job === undefined) this.#all.add(sub);
    else {
      let set = this.#byJob.get(opts.job);
      if (!set) this.#byJob.set(opts.job, (set = new Set()));
      set.add(sub);
    }
    try {
      if (opts.since === undefined) return { sub, backlog: [], behind: false };
      const { backlog, behind } = await this.#backlog(opts.since, opts.job);
      return { sub, backlog, behind };
    } catch (err) {
      this.forget(sub);
      throw err;
    }
  }

  forget(sub: Subscription): void {
    if (sub.job === undefined) this.#all.delete(sub);
    else {
      const set = this.#byJob.get(sub.job);
      set?.delete(sub);
      if (set?.size === 0) this.#byJob.delete(sub.job);
    }
  }

  /** Ends every open stream (shutdown, before the server waits for its connections). */
  endAll(): void {
    for (const s of [...this.#subscriptions()]) s.close();
  }

  /** Stops the reader; the caller then closes its connection, which ends the blocked XREAD. */
  stop(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.endAll();
    return this.#loop ?? Promise.resolve();
  }

  *#subscriptions(): Iterable<Subscription> {
    yield* this.#all;
    for (const set of this.#byJob.values()) yield* set;
  }

  async #backlog(since: string, job: string | undefined): Promise<{ backlog: Formatted[]; behind: boolean }> {
    const backlog: Formatted[] = [];
    // An id inside an entry of several events: that entry is read again, its events up to `since` skipped.
    const { entry, part } = splitEventId(since);
    let start = part === Infinity ? `(${entry}` : entry;
    for (;;) {
      const range = ['XRANGE', keys.events, start, '+', 'COUNT', String(BATCH)];
      const entries = ((await this.opts.redis.sendCommand(range)) ?? []) as Entry[];
      // Read after the entries: if nothing from `entry` on had been trimmed by now, the read above saw it all.
      if (await lostAfter(this.opts.redis, entry)) return { backlog: [], behind: true };
      for (const [id, flat] of entries) {
        for (const e of eventsFromEntry(id, flat)) {
          if (compareStreamIds(e.id, since) <= 0) continue;
          if (job === undefined || e.job === job) backlog.push({ ...e, text: formatEvent(e) });
        }
      }
      if (entries.length < BATCH) return { backlog, behind: false };
      start = `(${entries[entries.length - 1]![0]}`;
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        const reply = await this.opts.reader.sendCommand([
          'XREAD',
          'COUNT',
          String(BATCH),
          'BLOCK',
          String(BLOCK_MS),
          'STREAMS',
          keys.events,
          this.#last,
        ]);
        if (this.#interrupted) {
          this.#interrupted = false;
          if (await lostAfter(this.opts.redis, this.#last)) {
            this.opts.log.warn({ position: this.#last }, 'event reader fell behind the stream: open streams reset');
            for (const s of this.#subscriptions()) s.reset(this.#last);
          }
        }
        failures = 0;
        for (const [, entries] of pairs<Entry[]>(reply)) for (const [id, flat] of entries) this.#deliver(id, flat);
      } catch (err) {
        if (this.#closed) return;
        this.#interrupted = true;
        failures++;
        if (failures === 1 || !isRedisUnavailable(err)) {
          this.opts.log.warn({ err: (err as Error).message }, 'event reader: read failed, retrying');
        }
        await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  #deliver(id: string, flat: string[]): void {
    this.#last = id;
    if (this.#all.size === 0 && this.#byJob.size === 0) return;
    for (const e of eventsFromEntry(id, flat)) {
      const forJob = e.job === undefined ? undefined : this.#byJob.get(e.job);
      if (this.#all.size === 0 && !forJob) continue;
      const f: Formatted = { ...e, text: formatEvent(e) };
      for (const s of this.#all) s.deliver(f);
      if (forJob) for (const s of [...forJob]) s.deliver(f);
    }
  }
}

/**
 * The name/value pairs of a map reply, whichever protocol the connection speaks: RESP3 maps come
 * as objects (or Maps), RESP2 as flat lists (XINFO) or lists of pairs (XREAD). null: none.
 */
function pairs<T = unknown>(reply: unknown): [string, T][] {
  if (reply === null || reply === undefined) return [];
  if (reply instanceof Map) return [...reply.entries()] as [string, T][];
  if (!Array.isArray(reply)) return Object.entries(reply as Record<string, T>);
  if (reply.every((x) => Array.isArray(x) && x.length === 2)) return reply as [string, T][];
  const out: [string, T][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) out.push([String(reply[i]), reply[i + 1] as T]);
  return out;
}

interface StreamInfo {
  lastGenerated: string;
  /** The oldest entry kept; none when the stream is empty. */
  firstEntry?: string;
  /** Redis 7: whether trimming ever removed an entry (more were added than it holds). */
  trimmed?: boolean;
}

/** XINFO STREAM's fields we use; null when the stream does not exist. */
async function streamInfo(redis: Redis): Promise<StreamInfo | null> {
  let reply: unknown;
  try {
    reply = await redis.sendCommand(['XINFO', 'STREAM', keys.events]);
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return null;
    throw err;
  }
  const fields = new Map(pairs(reply));
  const first = fields.get('first-entry') as [string, unknown] | null | undefined;
  const added = fields.get('entries-added');
  return {
    lastGenerated: String(fields.get('last-generated-id')),
    ...(first && { firstEntry: first[0] }),
    ...(added !== undefined && { trimmed: Number(added) > Number(fields.get('length')) }),
  };
}

/**
 * Whether the stream may no longer hold every entry after `id`: its oldest entry is newer than
 * `id` (trimming takes the oldest first, so while `id` itself is kept, everything after it is),
 * or the stream is behind `id` (it was lost and written anew, or `id` never came from it). Redis
 * does not record what trimming removed (XINFO's max-deleted-entry-id counts XDEL only), so an
 * `id` that was itself the last entry trimmed counts as behind too: a reset too many, never one
 * too few.
 */
async function lostAfter(redis: Redis, id: string): Promise<boolean> {
  const info = await streamInfo(redis);
  if (!info) return id !== '0-0';
  if (compareStreamIds(id, info.lastGenerated) > 0) return true;
  if (info.trimmed === false) return false;
  if (info.firstEntry === undefined) return compareStreamIds(id, info.lastGenerated) < 0;
  return compareStreamIds(info.firstEntry, id) > 0;
}
