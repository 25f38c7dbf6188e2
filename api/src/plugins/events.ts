/**
 * Server-Sent Events: `app.eventHub` (the process' one reader of the event stream, see
 * ../events/hub.ts) and `app.eventStreams` (the caps on open streams, counted in /metrics).
 * @fastify/sse sets the response up (headers, the reply's own headers carried over, close
 * handling); its per-stream heartbeat timer is off, the hub pings every stream from one timer.
 * On shutdown every stream is ended before the server waits for its connections to close.
 */
import fp from 'fastify-plugin';
import { fastifySSE } from '@fastify/sse';
import { Counter, Gauge } from 'prom-client';
import { closeRedis } from '@meteorites/shared';
import { ApiError } from '../errors.ts';
import { EventHub } from '../events/hub.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** undefined without Redis (OpenAPI generation). */
    eventHub: EventHub | undefined;
    eventStreams: StreamLimits;
  }
}

/** How long a client refused for the caps is told to wait. */
const RETRY_AFTER_S = 5;

export class TooManyStreamsError extends ApiError {
  override name = 'TooManyStreamsError';
  constructor(message: string) {
    super(503, 'too_many_streams', message, { retry_after_s: RETRY_AFTER_S });
  }
}

/** Open streams of this process, in total and per client address; admit() takes a place. */
export class StreamLimits {
  readonly #perClient = new Map<string, number>();
  #open = 0;
  /** Set on shutdown: no new stream. */
  closing = false;
  refused = 0;

  constructor(
    readonly maxTotal: number,
    readonly maxPerClient: number,
  ) {}

  get open(): number {
    return this.#open;
  }

  /** A place for one stream of `client`, and the function that gives it back (safe to call twice). */
  admit(client: string): () => void {
    const mine = this.#perClient.get(client) ?? 0;
    let why: string | undefined;
    if (this.closing) why = 'the server is shutting down';
    else if (this.#open >= this.maxTotal) why = `this server holds its maximum of ${this.maxTotal} open event streams`;
    else if (mine >= this.maxPerClient) why = `this client holds its maximum of ${this.maxPerClient} open event streams`;
    if (why) {
      this.refused++;
      throw new TooManyStreamsError(`${why}; retry in ${RETRY_AFTER_S} s`);
    }
    this.#open++;
    this.#perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      const left = (this.#perClient.get(client) ?? 1) - 1;
      if (left > 0) this.#perClient.set(client, left);
      else this.#perClient.delete(client);
    };
  }
}

export default fp<{ connect?: boolean }>(
  async (app, opts) => {
    await app.register(fastifySSE, { heartbeatInterval: 0 });
    const limits = new StreamLimits(app.config.SSE_MAX_STREAMS, app.config.SSE_MAX_STREAMS_PER_CLIENT);
    app.decorate('eventStreams', limits);

    const registers = [app.metrics.registry];
    new Gauge({
      name: 'meteorites_sse_streams',
      help: 'Open event streams (GET /events, GET /jobs/{id}/events) of this API process',
      registers,
      collect() {
        this.set(limits.open);
      },
    });
    new Counter({
      name: 'meteorites_sse_streams_refused_total',
      help: 'Event streams this API process refused (503) for SSE_MAX_STREAMS, SSE_MAX_STREAMS_PER_CLIENT or shutdown',
      registers,
      collect() {
        this.reset();
        this.inc(limits.refused);
      },
    });

    if (opts.connect === false) {
      app.decorate('eventHub', undefined);
      return;
    }
    const reader = await app.openRedis('api:events-reader', 'event reader');
    const hub = new EventHub({ reader, redis: app.redis, log: app.log, heartbeatMs: app.config.SSE_HEARTBEAT_MS });
    try {
      await hub.start();
    } catch (err) {
      await closeRedis(reader, 0);
      throw err;
    }
    app.decorate('eventHub', hub);
    // Before the server waits for open connections: an open stream would hold it for ever.
    app.addHook('preClose', (done) => {
      limits.closing = true;
      hub.endAll();
      done();
    });
    app.addHook('onClose', async () => {
      const stopped = hub.stop();
      // The reader is blocked in XREAD: dropping the connection ends it at once.
      reader.destroy();
      await stopped;
    });
  },
  { name: 'events', dependencies: ['config', 'redis', 'metrics'], fastify: '5.x' },
);
