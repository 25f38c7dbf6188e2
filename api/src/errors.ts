/**
 * Errors a route throws on purpose, when no domain error of the shared modules says it already.
 * The one error handler (plugins/errors.ts) turns each into `{"error": {"code", "message",
 * ...details}}` with its status, as it does every ServiceError.
 */
import Type from 'typebox';
import { ServiceError } from '@meteorites/shared';

export class ApiError extends ServiceError {
  override name = 'ApiError';
  constructor(
    override readonly statusCode: number,
    override readonly code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, { details });
  }
}

export const notFound = (what: string, details: Record<string, unknown> = {}) =>
  new ApiError(404, 'not_found', `${what} not found`, details);

export const badRequest = (message: string, details: Record<string, unknown> = {}) => new ApiError(400, 'bad_request', message, details);

export const conflict = (code: string, message: string, details: Record<string, unknown> = {}) => new ApiError(409, code, message, details);

/** A response schema for an error status, with the description OpenAPI shows for it. */
export const errorResponse = (description: string) => Type.Ref('Error', { description });
