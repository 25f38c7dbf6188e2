/**
 * How the API and workers log (LOG_FORMAT): JSON lines for log collectors, or pino-pretty's
 * short readable lines for a person at a terminal. Unset, the format follows stdout: a terminal
 * gets pretty lines, a pipe or file (containers, CI, `npm start` under a test) gets JSON.
 */
import type { DestinationStream, LoggerOptions } from 'pino';
import PinoPretty, { type PrettyOptions } from 'pino-pretty';
import type { Config } from './config.ts';

export type LogFormat = NonNullable<Config['LOG_FORMAT']>;

/** The format a process uses: LOG_FORMAT when set, else pretty exactly when stdout is a terminal. */
export function logFormat(config: Pick<Config, 'LOG_FORMAT'>, isTTY = process.stdout.isTTY === true): LogFormat {
  return config.LOG_FORMAT ?? (isTTY ? 'pretty' : 'json');
}

/**
 * Fields a terminal reader does not need on every line: the process and host (one of each per
 * terminal), the request id (the request line says which request it was) and the worker id.
 * JSON lines keep them all.
 */
const PRETTY_IGNORE = 'pid,hostname,reqId,service,worker';

export function prettyOptions(isTTY: boolean): PrettyOptions {
  return {
    // Colour only for a terminal: LOG_FORMAT=pretty into a file must not fill it with escape codes.
    colorize: isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: PRETTY_IGNORE,
    // An event's fields on its own line, not one indented line per field.
    singleLine: true,
    // Written before the next line of code runs, so nothing is lost when the process exits at once.
    sync: true,
  };
}

export interface LoggerSetup {
  format: LogFormat;
  /** pino's options (for Fastify: its `logger` option, with `stream`). */
  options: LoggerOptions;
  /** Where lines go: pino-pretty for `pretty`, undefined (stdout) for `json`. */
  stream?: DestinationStream;
}

/**
 * The logger of one process. `service` names it on pretty lines (`INFO (api): ...`) and, for the
 * worker, in its JSON lines too, as before.
 */
export function loggerSetup(
  config: Pick<Config, 'LOG_FORMAT' | 'LOG_LEVEL'>,
  service: 'api' | 'worker',
  isTTY = process.stdout.isTTY === true,
): LoggerSetup {
  const format = logFormat(config, isTTY);
  if (format === 'json') {
    const options: LoggerOptions = { level: config.LOG_LEVEL };
    // The API's JSON lines keep pino's default fields (pid, hostname); the worker's name it.
    if (service === 'worker') options.base = { service, pid: process.pid };
    return { format, options };
  }
  return { format, options: { level: config.LOG_LEVEL, name: service }, stream: PinoPretty(prettyOptions(isTTY)) };
}
