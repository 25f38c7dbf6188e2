/**
 * The event stream (keys.events) as its writers and its reader agree on it. The queue's scripts
 * append job events in the step that changes the job, the dataset store appends dataset events
 * in the MULTI that changes the dataset's state, and each API process reads the stream once and
 * serves it as Server-Sent Events, the event id (the entry id, with the event's place in the entry
 * when it holds several) being the SSE id (so `Last-Event-ID` is a place in the stream to read on from).
 */
import { keys } from './keys.ts';
import type { Redis } from './redis.ts';

/** EVENTS_STREAM_MAXLEN's default: the stream is trimmed (approximately) to this many entries. */
export const DEFAULT_EVENTS_MAXLEN = 10_000;

export const JOB_EVENT_NAMES = ['queued', 'started', 'progress', 'finished', 'failed', 'cancelled', 'retrying'] as const;
/** A dataset event is named after the state it enters. */
export const DATASET_EVENT_NAMES = ['loading', 'ready', 'empty'] as const;
const DATASET_EVENTS = new Set<string>(DATASET_EVENT_NAMES);

/**
 * An event's id: its stream entry's id `<ms>-<seq>` when the entry holds one event, `<ms>-<seq>.<n>`
 * for the n-th (from 1) of an entry that holds several (a queue script writes all the events of one
 * step as one entry).
 */
export const STREAM_ID_PATTERN = '^[0-9]{1,20}-[0-9]{1,20}(\\.[0-9]{1,6})?$';
const streamIdRe = new RegExp(STREAM_ID_PATTERN);
export const isStreamId = (id: string): boolean => streamIdRe.test(id);

/**
 * An event id's entry and place in it; a bare entry id (a one-event entry, or a position such as
 * a reset's) stands for the whole entry: `part` is then Infinity, after each of its events.
 */
export function splitEventId(id: string): { entry: string; part: number } {
  const dot = id.indexOf('.');
  return dot < 0 ? { entry: id, part: Infinity } : { entry: id.slice(0, dot), part: Number(id.slice(dot + 1)) };
}

/** Orders two event ids as the stream does (numerically by time, then sequence, then place in the entry). */
export function compareStreamIds(a: string, b: string): number {
  const x = splitEventId(a);
  const y = splitEventId(b);
  const [am, as] = x.entry.split('-');
  const [bm, bs] = y.entry.split('-');
  const ms = BigInt(am!) - BigInt(bm!);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as ?? '0') - BigInt(bs ?? '0');
  if (seq !== 0n) return seq < 0n ? -1 : 1;
  return x.part === y.part ? 0 : x.part < y.part ? -1 : 1;
}

export interface ServiceEvent {
  /** The event id (see STREAM_ID_PATTERN). */
  id: string;
  event: string;
  /** The job it is about, for a job event. */
  job?: string;
  data: Record<string, unknown>;
}

/** A job's status after each job event. */
const STATUS_AFTER: Record<string, string> = {
  queued: 'queued',
  started: 'running',
  progress: 'running',
  retrying: 'queued',
  finished: 'finished',
  failed: 'failed',
  cancelled: 'cancelled',
};

/**
 * The events of an entry as XREAD and XRANGE reply with it: its id and its fields as a flat list.
 * An entry is one event as named fields (`event`, then `id`, `analysis`, `progress`, `attempts`,
 * `version`, `records` as the event has them: the dataset's and progress events), or the job
 * events of one queue step as one field `jobs`, a line per event: `<event> <job id>
 * <analysis>[ <attempts>]`. Entries hold only what the events add: the status follows from the
 * event, the time is the entry id's (Redis' clock). Entries written before the `jobs` field
 * (a field per event: its name, then `<job id> <analysis>[ <attempts>]`) read the same.
 */
export function eventsFromEntry(id: string, flat: readonly string[]): ServiceEvent[] {
  const at = new Date(Number(id.slice(0, id.indexOf('-')))).toISOString();
  const groups: Record<string, string>[] = [];
  const jobEvent = (event: string, rest: string[]) => {
    const [job, analysis, attempts] = rest;
    groups.push({ event, id: job!, analysis: analysis ?? '', ...(attempts !== undefined && { attempts }) });
  };
  if (flat[0] === 'jobs' && flat.length === 2) {
    for (const line of flat[1]!.split('\n')) {
      const [event, ...rest] = line.split(' ');
      jobEvent(event!, rest);
    }
  } else if (flat[0] === 'event' || flat.length < 2) {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
    groups.push(f);
  } else {
    for (let i = 0; i + 1 < flat.length; i += 2) jobEvent(flat[i]!, flat[i + 1]!.split(' '));
  }
  return groups.map((g, i) => eventOf(groups.length === 1 ? id : `${id}.${i + 1}`, g, at));
}

function eventOf(id: string, f: Record<string, string>, at: string): ServiceEvent {
  const event = f.event ?? 'unknown';
  if (DATASET_EVENTS.has(event)) {
    return {
      id,
      event,
      data: {
        state: event,
        ...(f.version !== undefined && { version: Number(f.version) }),
        ...(f.records !== undefined && { records: Number(f.records) }),
        at,
      },
    };
  }
  return {
    id,
    event,
    job: f.id,
    data: {
      id: f.id,
      analysis: f.analysis,
      status: STATUS_AFTER[event] ?? event,
      ...(f.progress !== undefined && { progress: Number(f.progress) }),
      ...(f.attempts !== undefined && { attempts: Number(f.attempts) }),
      at,
    },
  };
}

/**
 * Adds a dataset event to `multi`, the transaction that changes the dataset's state, so the event
 * is written exactly when the change is.
 */
export function addDatasetEvent(
  multi: ReturnType<Redis['multi']>,
  state: (typeof DATASET_EVENT_NAMES)[number],
  info: { version?: number; records?: number },
  maxLen = DEFAULT_EVENTS_MAXLEN,
): void {
  const fields: Record<string, string> = { event: state };
  if (info.version !== undefined) fields.version = String(info.version);
  if (info.records !== undefined) fields.records = String(info.records);
  multi.xAdd(keys.events, '*', fields, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: maxLen } });
}
