/** The command line's grammar: argv in, one typed command out, or a UsageError saying what is wrong. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ENDED, type JobStatus } from '@meteorites/shared/client/index';

export const USAGE = `usage: meteorites <command> [options]    (or: npm run cli -- <command> [options])

  load <file.csv|file.json> [--format csv|json]   upload a dataset (replaces the loaded one)
  submit <analysis> [--param k=v ...]             run an analysis as a job; prints its id
  wait <job-id> [--timeout seconds]               wait until the job ends (exit 0 finished, 1 failed/cancelled)
  result <job-id> [--chart out.png]               print the result JSON; --chart also saves the chart
  jobs [--status s] [--limit n]                   list jobs, newest first

The API is API_URL (default http://127.0.0.1:3000); API_KEY, when set, is sent as a Bearer token.`;

const STATUSES: readonly JobStatus[] = ['queued', 'running', ...ENDED];

export class UsageError extends Error {
  override name = 'UsageError';
}

export type Command =
  | { name: 'help' }
  | { name: 'load'; file: string; format: 'csv' | 'json' }
  | { name: 'submit'; analysis: string; params: Record<string, string | number> }
  | { name: 'wait'; id: string; timeoutS: number | undefined }
  | { name: 'result'; id: string; chart: string | undefined }
  | { name: 'jobs'; status: JobStatus | undefined; limit: number | undefined };

/** `k=v` pairs into params; values that read as numbers become numbers (`n=20`, `cell_deg=2.5`). */
export function parseParams(pairs: string[]): Record<string, string | number> {
  const params: Record<string, string | number> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param takes key=value, not ${JSON.stringify(pair)}`);
    const value = pair.slice(eq + 1);
    params[pair.slice(0, eq)] = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? Number(value) : value;
  }
  return params;
}

function positiveNumber(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(value)}`);
  }
  return n;
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}, got ${positionals.length}`);
  return positionals[0]!;
}

export function parseCommand(argv: string[]): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return { name: 'help' };
  const parse = <O extends NonNullable<ParseArgsConfig['options']>>(options: O) => {
    try {
      return parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };
  switch (name) {
    case 'load': {
      const { values, positionals } = parse({ format: { type: 'string' } });
      const file = one(positionals, 'file');
      const format = values.format ?? (/\.csv$/i.test(file) ? 'csv' : /\.json$/i.test(file) ? 'json' : undefined);
      if (format !== 'csv' && format !== 'json') {
        throw new UsageError(`cannot tell the format of ${file}: name it .csv or .json, or add --format csv|json`);
      }
      return { name, file, format };
    }
    case 'submit': {
      const { values, positionals } = parse({ param: { type: 'string', multiple: true } });
      return { name, analysis: one(positionals, 'analysis name'), params: parseParams(values.param ?? []) };
    }
    case 'wait': {
      const { values, positionals } = parse({ timeout: { type: 'string' } });
      return { name, id: one(positionals, 'job id'), timeoutS: positiveNumber('--timeout', values.timeout, false) };
    }
    case 'result': {
      const { values, positionals } = parse({ chart: { type: 'string' } });
      return { name, id: one(positionals, 'job id'), chart: values.chart };
    }
    case 'jobs': {
      const { values, positionals } = parse({ status: { type: 'string' }, limit: { type: 'string' } });
      if (positionals.length > 0) throw new UsageError(`jobs takes no arguments, got ${positionals.join(' ')}`);
      const status = values.status as JobStatus | undefined;
      if (status !== undefined && !STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
      return { name, status, limit: positiveNumber('--limit', values.limit, true) };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  }
}
