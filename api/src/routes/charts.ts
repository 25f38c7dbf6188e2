/**
 * A finished job's chart: SVG, PNG, and the PNG as a download.
 *
 * Rendered lazily in the API, once per result, and kept in Redis beside the result. Lazily,
 * because most results are read as JSON and never drawn: rendering in the worker would charge
 * every job 100-350 ms (bench/charts.ts, full dataset) and two more values in Redis for pictures
 * nobody asked for. In the API, because that is where a chart is asked for, and the cost is
 * paid once per result, not per request. The price: vega's SVG pass is one synchronous stretch
 * on the event loop, 20-100 ms of CPU for the full dataset's results (geo-grid at 2° the most;
 * measured stalls of 25-460 ms on an overloaded 2-core machine), which requests arriving during
 * a first render wait out. resvg draws the PNG on libuv's thread pool (renderAsync); only its
 * PNG encoding runs on the loop (15-60 ms measured). A worker-thread pool for the SVG pass would
 * cost more code than a stall of that size, once per result, is worth.
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { RESP_TYPES } from 'redis';
import { keys, type ChartFormat, type Redis, LuaScript, JobId, type JobQueue, type AnalysisResult } from '@meteorites/shared';
import { renderSvg, svgToPng, xmlSafe } from '@meteorites/charts';
import { conflict, errorResponse, notFound } from '../errors.ts';

/** Browsers may keep a chart this long when its result never expires (RESULT_TTL_SECONDS=0). */
const ONE_YEAR_S = 31_536_000;

/** Stores a chart with the remaining lifetime of its result (./chart-store.lua). */
const STORE = LuaScript.fromFile(import.meta.url, 'chart-store');

interface Chart {
  bytes: Buffer;
  /** Remaining lifetime in ms; null when the result (and so the chart) never expires. */
  ttlMs: number | null;
  analysis: string;
}

class Charts {
  /** Renders in progress in this process: concurrent first requests for one chart share one render. */
  readonly #rendering = new Map<string, Promise<Omit<Chart, 'analysis'>>>();
  readonly #binary: Redis;

  constructor(
    private readonly redis: Redis,
    private readonly jobs: JobQueue,
  ) {
    this.#binary = redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }) as unknown as Redis;
  }

  /** The stored chart, rendered and stored first if need be; 404 unknown job, 409 not finished. */
  async get(id: string, format: ChartFormat): Promise<Chart> {
    const key = keys.chart(id, format);
    // A pipeline, not MULTI: node-redis applies the Buffer type mapping to pipelined replies but
    // not to EXEC's. Nothing needs the three reads atomic: a chart that expires between them reads
    // as "gone" (PTTL -2), and is cached for 0 s.
    const reads = this.#binary.multi().get(key).pTTL(key).hmGet(keys.job(id), ['status', 'analysis']);
    const [bytes, pttl, [status, analysis]] = (await reads.execAsPipeline()) as unknown as [
      Buffer | null,
      number,
      [Buffer | null, Buffer | null],
    ];
    if (status === null || analysis === null) throw notFound('job', { id });
    if (status.toString() !== 'finished') {
      throw conflict('job_not_finished', `job ${id} has no chart: it is ${status.toString()}`, { status: status.toString() });
    }
    if (bytes !== null) {
      const ttlMs = pttl === -1 ? null : Math.max(0, pttl);
      return { bytes: format === 'svg' ? safeSvg(bytes) : bytes, ttlMs, analysis: analysis.toString() };
    }
    let rendering = this.#rendering.get(key);
    if (!rendering) {
      rendering = this.#render(id, format).finally(() => this.#rendering.delete(key));
      this.#rendering.set(key, rendering);
    }
    return { ...(await rendering), analysis: analysis.toString() };
  }

  async #render(id: string, format: ChartFormat): Promise<Omit<Chart, 'analysis'>> {
    let bytes: Buffer;
    if (format === 'svg') {
      const r = await this.jobs.result(id);
      if (!('json' in r)) throw notFound('job', { id });
      const result = JSON.parse(r.json) as AnalysisResult;
      // An analysis without a chart throws UnsupportedChartError, a 404 `no_chart`.
      bytes = Buffer.from(await renderSvg(result));
    } else {
      const svg = await this.get(id, 'svg');
      bytes = Buffer.from((await svgToPng(svg.bytes.toString('utf8'))).png);
    }
    const ttl = (await STORE.run(this.redis, [keys.result(id), keys.chart(id, format)], [bytes])) as number;
    // The result expired while the chart was drawn: so did the job.
    if (ttl === -2) throw notFound('job', { id });
    return { bytes, ttlMs: ttl >= 0 ? ttl : null };
  }
}

/**
 * A stored SVG as it may be served: one stored before charts were made XML-safe may hold
 * characters XML cannot, and is served repaired (the stored copy expires with its result).
 */
function safeSvg(bytes: Buffer): Buffer {
  const text = bytes.toString('utf8');
  const safe = xmlSafe(text);
  return safe === text ? bytes : Buffer.from(safe);
}

/** True when If-None-Match names this ETag (weak or strong) or is `*`. */
function notModified(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

function send(request: FastifyRequest, reply: FastifyReply, chart: Chart, type: string) {
  // Charts are immutable: a digest of the bytes is the ETag, and caches may keep them until they expire.
  const etag = `"${createHash('sha256').update(chart.bytes).digest('base64url').slice(0, 32)}"`;
  const maxAge = chart.ttlMs === null ? ONE_YEAR_S : Math.floor(chart.ttlMs / 1000);
  reply.header('etag', etag).header('cache-control', `public, max-age=${maxAge}, immutable`);
  if (notModified(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(type).send(chart.bytes);
}

const cacheHeaders = {
  ETag: { type: 'string', description: 'A digest of the chart' },
  'Cache-Control': { type: 'string', description: '`public, max-age=<seconds until the result expires>, immutable`' },
} as const;

const errors = {
  400: errorResponse('The id is not a job id, whatever its length (`validation_failed`)'),
  404: errorResponse('No such job (`not_found`; expired jobs are gone too), or its analysis has no chart (`no_chart`)'),
  409: errorResponse('The job has not finished, or failed or was cancelled (`job_not_finished`; `error.status` says which)'),
  503: errorResponse('Redis is not answering (`redis_unavailable`)'),
};

const notModifiedResponse = { description: 'The chart named in If-None-Match has not changed', type: 'null' } as const;

const binary = (description: string, type: string, headers: Record<string, unknown> = {}) => ({
  description,
  headers: { ...cacheHeaders, ...headers },
  content: { [type]: { schema: type === 'image/png' ? { type: 'string', format: 'binary' } : { type: 'string' } } },
});

const params = Type.Object({ id: JobId });

const charts: FastifyPluginAsyncTypebox = async (app) => {
  const store = new Charts(app.redis, app.jobs);
  const describe =
    'Rendered on the first request and kept until the result expires. 404: no such job; 409: the job has not finished (`error.status` says where it is).';

  const formats = [
    { format: 'svg', type: 'image/svg+xml', sent: 'image/svg+xml; charset=utf-8', label: 'SVG' },
    { format: 'png', type: 'image/png', sent: 'image/png', label: 'PNG' },
  ] as const;
  for (const { format, type, sent, label } of formats) {
    app.get(
      `/results/:id/chart.${format}`,
      {
        schema: {
          tags: ['results'],
          summary: `A finished job's chart as ${label}`,
          description: describe,
          params,
          response: { 200: binary('The chart, 800 px wide', type), 304: notModifiedResponse, ...errors },
        },
      },
      async (request, reply) => send(request, reply, await store.get(request.params.id, format), sent),
    );
  }

  app.get(
    '/download/:id',
    {
      schema: {
        tags: ['results'],
        summary: "A finished job's chart as a PNG download",
        description: `The PNG of \`/results/{id}/chart.png\`, as an attachment named \`<analysis>-<id>.png\`. ${describe}`,
        params,
        response: {
          200: binary('The chart as an attachment', 'image/png', {
            'Content-Disposition': { type: 'string', description: '`attachment; filename="<analysis>-<id>.png"`' },
          }),
          304: notModifiedResponse,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const chart = await store.get(id, 'png');
      reply.header('content-disposition', `attachment; filename="${chart.analysis}-${id}.png"`);
      return send(request, reply, chart, 'image/png');
    },
  );
};

export default charts;
