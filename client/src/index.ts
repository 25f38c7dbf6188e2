/**
 * The typed HTTP client of the service: openapi-fetch over the types `npm run openapi` generates
 * from openapi.json, so a caller that no longer matches a route fails the typecheck. The CLI and
 * the end-to-end tests talk to the API only through it.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './openapi.ts';

export type { components, paths };
export type ApiClient = Client<paths>;
export type Job = components['schemas']['Job'];
export type JobStatus = Job['status'];

export interface ApiClientOptions {
  /** Sent as the `Authorization` header of every request, e.g. `Bearer <key>` for a deployment that requires one. */
  authorization?: string;
  fetch?: typeof globalThis.fetch;
}

export function createApiClient(baseUrl: string, opts: ApiClientOptions = {}): ApiClient {
  return createClient<paths>({
    baseUrl,
    headers: opts.authorization ? { authorization: opts.authorization } : {},
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

/** An error answer of the API, carrying its `{"error": {"code", "message"}}` body. */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** The data of a successful answer; an error answer throws an ApiRequestError with the API's own message. */
export async function ok<R extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<R>,
): Promise<Exclude<R['data'], undefined>> {
  const { data, error, response } = await call;
  if (response.ok) return data as Exclude<R['data'], undefined>;
  const body = (error as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof body?.code === 'string' ? body.code : undefined;
  const message = typeof body?.message === 'string' ? body.message : `${response.status} ${response.statusText}`.trim();
  throw new ApiRequestError(response.status, code, message, error);
}

export const ENDED: readonly JobStatus[] = ['finished', 'failed', 'cancelled'];
