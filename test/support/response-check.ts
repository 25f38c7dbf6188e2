/**
 * Every response a test receives, checked against openapi.json: the status must be documented for
 * its operation, the media type among those documented for that status, a JSON body valid against
 * that status' schema (Ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses), every 4xx/5xx the error
 * envelope, and an SVG well-formed. Drift between the document and the server then fails the test
 * that saw it: the in-process app gets an onSend hook (test/support/app.ts), services in child
 * processes a checked fetch (`checkedFetch`, for the generated client), and the setup file
 * (response-check.setup.ts) fails any test after which violations are pending.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { createRequire } from 'node:module';
import { pipeline, Readable, Transform } from 'node:stream';
import { dereference } from '@readme/openapi-parser';
import { parseSvg } from './svg.ts';

// ajv-formats is CommonJS, and its typings do not survive an ESM default import: required as CommonJS.
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv2020) => Ajv2020;

type Schema = Record<string, unknown>;
interface ResponseDoc {
  content?: Record<string, { schema?: Schema }>;
}
interface Operation {
  responses: Record<string, ResponseDoc>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

export const OPENAPI_PATH = new URL('../../openapi.json', import.meta.url);

/** One response as seen on the wire. */
export interface SeenResponse {
  method: string;
  /** The operation's path template (`/jobs/{id}`), or undefined when no documented route answered. */
  template: string | undefined;
  /** The URL requested, for the report. */
  url: string;
  status: number;
  contentType: string | undefined;
  /** The body; undefined when it was a stream this check does not read. */
  body: string | Buffer | undefined;
}

/** Validators of openapi.json's response schemas, compiled on first use. */
export class ResponseChecker {
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #templates: { template: string; re: RegExp; literal: number }[];

  constructor(readonly document: OpenApiDocument) {
    addFormats(this.#ajv);
    this.#ajv.addFormat('binary', true);
    this.#templates = Object.keys(document.paths)
      .map((template) => ({
        template,
        re: new RegExp(`^${template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{[^}]+\\\}/g, '[^/]+')}/?$`),
        literal: template.replace(/\{[^}]+\}/g, '').length,
      }))
      .sort((a, b) => b.literal - a.literal);
  }

  /** The documented template a concrete path answers to (`/jobs/1b…` → `/jobs/{id}`). */
  templateOf(path: string): string | undefined {
    return this.#templates.find((t) => t.re.test(path))?.template;
  }

  #validator(key: string, schema: Schema): ValidateFunction {
    let v = this.#compiled.get(key);
    if (!v) {
      v = this.#ajv.compile(schema);
      this.#compiled.set(key, v);
    }
    return v;
  }

  /** What is wrong with a response, one sentence per problem; empty when it matches the document. */
  check(r: SeenResponse): string[] {
    const problems: string[] = [];
    const mediaType = r.contentType?.split(';')[0]!.trim().toLowerCase();
    const text = r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : r.body.toString('utf8');
    const json = mediaType === 'application/json' && text !== undefined && text.length > 0 ? parseJson(text) : undefined;
    if (json && 'error' in json) problems.push(`the body is not JSON: ${json.error}`);

    if (r.status >= 400) {
      const envelope = this.#validator('#error', this.document.components.schemas.Error!);
      if (mediaType !== 'application/json') problems.push(`a ${r.status} that is not JSON (${r.contentType ?? 'no content type'})`);
      else if (json && 'value' in json && !envelope(json.value))
        problems.push(`a ${r.status} without the error envelope: ${this.#ajv.errorsText(envelope.errors)}`);
    }

    const operation = r.template === undefined ? undefined : this.document.paths[r.template]?.[r.method.toLowerCase()];
    if (!operation) return problems; // not a documented operation (404 for no route, /docs, ...): the envelope is all there is to check
    const name = `${r.method.toUpperCase()} ${r.template}`;
    const documented =
      operation.responses[String(r.status)] ?? operation.responses[`${String(r.status)[0]}XX`] ?? operation.responses.default;
    if (!documented) {
      problems.push(`status ${r.status} is not documented for ${name} (documented: ${Object.keys(operation.responses).join(', ')})`);
      return problems;
    }
    const content = documented.content ?? {};
    if (Object.keys(content).length === 0) {
      if (text !== undefined && text.length > 0) problems.push(`${name} ${r.status} documents no body, but one came (${r.contentType})`);
      return problems;
    }
    if (!mediaType || !(mediaType in content)) {
      problems.push(`${name} ${r.status} answered ${r.contentType ?? 'no content type'}; documented: ${Object.keys(content).join(', ')}`);
      return problems;
    }
    const schema = content[mediaType]!.schema;
    if (mediaType === 'application/json' && schema && json && 'value' in json) {
      const validate = this.#validator(`${name} ${r.status}`, schema);
      if (!validate(json.value))
        problems.push(`${name} ${r.status} breaks its schema: ${this.#ajv.errorsText(validate.errors, { separator: '; ' })}`);
    }
    if (mediaType === 'image/svg+xml' && text !== undefined) {
      try {
        parseSvg(text);
      } catch (err) {
        problems.push(`${name} ${r.status}: ${(err as Error).message}`);
      }
    }
    return problems;
  }
}

function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** openapi.json with every `$ref` resolved (a fresh copy: dereferencing works in place). */
export async function loadOpenApi(): Promise<OpenApiDocument> {
  const document = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as Parameters<typeof dereference>[0];
  return (await dereference(document)) as unknown as OpenApiDocument;
}

let checker: Promise<ResponseChecker> | undefined;
export const responseChecker = (): Promise<ResponseChecker> => (checker ??= loadOpenApi().then((d) => new ResponseChecker(d)));

// ---- violations, collected until the setup file's afterEach reports them ----

const pending: string[] = [];

/** Checks one response and keeps what is wrong with it for the test that saw it. */
export async function record(r: SeenResponse): Promise<string[]> {
  let problems: string[];
  try {
    problems = (await responseChecker()).check(r);
  } catch (err) {
    // Reported like drift rather than thrown: thrown in an onSend hook it would turn the response into a 500.
    problems = [`the check itself failed: ${(err as Error).stack ?? String(err)}`];
  }
  for (const p of problems) pending.push(`${r.method} ${r.url.length > 200 ? `${r.url.slice(0, 200)}…` : r.url} → ${r.status}: ${p}`);
  return problems;
}

/** The violations seen since the last call, and forgets them. */
export function takeViolations(): string[] {
  return pending.splice(0, pending.length);
}

export class ResponseDriftError extends Error {
  override name = 'ResponseDriftError';
  constructor(readonly violations: string[]) {
    super(`${violations.length} response(s) do not match openapi.json:\n  ${violations.slice(0, 20).join('\n  ')}`);
  }
}

/** `/jobs/:id` (Fastify) → `/jobs/{id}` (OpenAPI). */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const isStream = (v: unknown): v is Readable => v instanceof Readable;

/**
 * Adds the check to an app before its routes are registered: every response of every route
 * passes through it. A streamed JSON body (GET /data) is passed through a copying Transform and
 * checked once it has all gone out; other streams (CSV, event streams) are not read.
 */
export function addResponseCheck(app: FastifyInstance): void {
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (request.method === 'HEAD') return payload;
    const routeUrl = request.routeOptions.url;
    const contentType = reply.getHeader('content-type') as string | undefined;
    const seen = (body: string | Buffer | undefined): SeenResponse => ({
      method: request.method,
      template: routeUrl === undefined ? undefined : openApiPath(routeUrl),
      url: request.url,
      status: reply.statusCode,
      contentType,
      body,
    });
    if (isStream(payload)) {
      if (!contentType?.startsWith('application/json')) {
        await record(seen(undefined));
        return payload;
      }
      const chunks: Buffer[] = [];
      const copy = new Transform({
        transform(chunk: Buffer | string, _encoding, done) {
          chunks.push(Buffer.from(chunk));
          done(null, chunk);
        },
        flush(done) {
          record(seen(Buffer.concat(chunks))).then(() => done(), done);
        },
      });
      // An error of the source (a client gone, Redis failing mid-stream) ends the copy the same way.
      pipeline(payload, copy, () => {});
      return copy;
    }
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : '';
    await record(seen(body));
    return payload;
  });
}

/** fetch, with every response checked (the body is read from a clone, so the caller's is untouched). */
export const checkedFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request?.url ?? (input instanceof URL ? input.href : String(input)));
  const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
  if (method === 'HEAD') return response;
  const contentType = response.headers.get('content-type') ?? undefined;
  // Event streams never end: their bodies are not read here.
  const streaming = contentType?.startsWith('text/event-stream');
  const body = streaming ? undefined : Buffer.from(await response.clone().arrayBuffer());
  const checker = await responseChecker();
  await record({
    method,
    template: checker.templateOf(url.pathname),
    url: url.pathname + url.search,
    status: response.status,
    contentType,
    body,
  });
  return response;
};
