/**
 * Errors a route throws on purpose. The one error handler (plugins/errors.ts) turns each into
 * `{"error": {"code", "message", ...details}}` with its status.
 */
import Type from 'typebox';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string, details: Record<string, unknown> = {}) =>
  new ApiError(404, 'not_found', `${what} not found`, details);

export const badRequest = (message: string, details: Record<string, unknown> = {}) =>
  new ApiError(400, 'bad_request', message, details);

export const conflict = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new ApiError(409, code, message, details);

/** A response schema for an error status, with the description OpenAPI shows for it. */
export const errorResponse = (description: string) => Type.Ref('Error', { description });
