/**
 * Live updates: one EventSource on `events` for the whole page when the service streams (the
 * page's <meta name="meteorites-live">), polling otherwise. EventSource cannot send an
 * Authorization header, so where reads need the key, or the stream fails for good, the page
 * falls back to polling as well. Views take part through useLive().
 */
import { useEffect, useRef } from 'preact/hooks';
import { liveMode, authMode } from './api.ts';
import { Store } from './store.ts';

export type JobStatus = 'queued' | 'running' | 'finished' | 'failed' | 'cancelled';

/** A job event of GET /events: what changed, not the whole job. */
export interface JobEvent {
  type: string;
  id: string;
  analysis: string;
  status: JobStatus;
  progress?: number;
  attempts?: number;
  at: string;
}

export interface DatasetEvent {
  type: string;
  state: 'empty' | 'loading' | 'ready';
  version?: number;
  records?: number;
  at: string;
}

const JOB_EVENTS = ['queued', 'started', 'progress', 'finished', 'failed', 'cancelled', 'retrying'];
const DATASET_EVENTS = ['loading', 'ready', 'empty'];
const POLL_MS = 2000;
const LAST_ID_ITEM = 'meteorites.last-event-id';

/** What the header says about updates: streamed, polled, or the stream reconnecting. */
export const liveState = new Store<'streaming' | 'polling' | 'reconnecting'>('polling');

interface Listener {
  job?(e: JobEvent): void;
  dataset?(e: DatasetEvent): void;
  /** Something changed, or may have (a poll tick, a reset): read again. */
  refresh(): void;
}

const listeners = new Set<Listener>();
let timer: ReturnType<typeof setInterval> | undefined;
let source: EventSource | undefined;

function poll(): void {
  source?.close();
  source = undefined;
  liveState.set('polling');
  timer ??= setInterval(() => listeners.forEach((l) => l.refresh()), POLL_MS);
}

function stream(): void {
  // The last id seen survives a reload in this tab, so the stream goes on from there.
  const last = sessionStorage.getItem(LAST_ID_ITEM);
  const es = new EventSource(last ? `events?last_event_id=${encodeURIComponent(last)}` : 'events');
  source = es;
  const remember = (e: MessageEvent) => e.lastEventId && sessionStorage.setItem(LAST_ID_ITEM, e.lastEventId);
  for (const type of JOB_EVENTS) {
    es.addEventListener(type, (e) => {
      remember(e);
      const data = { ...(JSON.parse(e.data) as JobEvent), type };
      listeners.forEach((l) => l.job?.(data));
    });
  }
  for (const type of DATASET_EVENTS) {
    es.addEventListener(type, (e) => {
      remember(e);
      const data = { ...(JSON.parse(e.data) as DatasetEvent), type };
      listeners.forEach((l) => l.dataset?.(data));
    });
  }
  es.addEventListener('reset', (e) => {
    remember(e);
    listeners.forEach((l) => l.refresh());
  });
  es.onopen = () => {
    liveState.set('streaming');
    // Whatever happened while the stream was down: read it once.
    listeners.forEach((l) => l.refresh());
  };
  // EventSource retries by itself after a dropped connection (CONNECTING); CLOSED means it gave up
  // (the answer was not a stream: a 401, a 404, a 503 over the cap).
  es.onerror = () => (es.readyState === EventSource.CLOSED ? poll() : liveState.set('reconnecting'));
}

let started = false;

export function startLive(): void {
  if (started) return;
  started = true;
  if (liveMode === 'sse' && authMode !== 'reads') stream();
  else poll();
}

/**
 * Keeps a view current: `refresh` runs on every poll tick, or, with a stream, a moment after
 * events (batched) and on a reset; `job` and `dataset` see each event as it arrives, for
 * changes that should show at once (a progress bar).
 */
export function useLive(
  handlers: Partial<Omit<Listener, 'refresh'>> & {
    refresh(): void;
    /** false: job events do not call refresh (the handler reads what it needs). */
    jobRefresh?: boolean;
    /** With a stream, refresh this often anyway: for what no event announces (workers, durations). */
    everyMs?: number;
  },
): void {
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | undefined;
    const later = () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        current.current.refresh();
      }, 250);
    };
    const listener: Listener = {
      refresh: () => current.current.refresh(),
      job: (e) => {
        current.current.job?.(e);
        // A progress event changes no list and no count: not worth a read.
        if (current.current.jobRefresh !== false && e.type !== 'progress') later();
      },
      dataset: (e) => {
        current.current.dataset?.(e);
        later();
      },
    };
    listeners.add(listener);
    const every = current.current.everyMs;
    // Polling refreshes anyway; only a stream needs the extra reads.
    const slowly = () => liveState.get() !== 'polling' && current.current.refresh();
    const slow = every && liveMode === 'sse' ? setInterval(slowly, every) : undefined;
    return () => {
      listeners.delete(listener);
      clearTimeout(pending);
      clearInterval(slow);
    };
  }, []);
}
