/**
 * Pretty logs get one short line per request (`GET /meteorites/1 200 3 ms`) instead of Fastify's
 * `incoming request` and `request completed` pair, each with every request and response field:
 * that pair is made for log collectors (JSON logs keep it), not for a person reading a terminal.
 */
import { LogController } from 'fastify';

/** Milliseconds as a person reads them: one decimal below 10 ms, whole ones above. */
export function shownMs(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

export class ShortRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(...[error, request, reply]: Parameters<LogController['requestCompleted']>): void {
    if (this.isLogDisabled(request)) return;
    const line = `${request.method} ${request.url} ${reply.statusCode} ${shownMs(reply.elapsedTime)} ms`;
    if (error) reply.log.error({ err: error }, line);
    else reply.log.info(line);
  }
}
