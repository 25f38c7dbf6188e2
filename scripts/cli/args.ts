/** The command line's grammar: argv in, one typed command out, or a UsageError saying what is wrong. */
import { ServiceError } from '@meteorites/shared';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ENDED, type JobStatus } from '@meteorites/client';

/** NASA's open data portal: the CSV export of the Meteorite Landings dataset (gh4g-9sfh). */
export const NASA_CSV_URL = 'https://data.nasa.gov/api/views/gh4g-9sfh/rows.csv?accessType=DOWNLOAD';
/** Where `fetch` saves it: the file `npm start` loads (relative to the working directory, as SAMPLE_DATA is). */
export const DATASET_FILE = 'data/Meteorite_Landings.csv';
/** Seconds without a byte from the server before `fetch` gives up: long enough for a slow portal to start its export. */
export const FETCH_IDLE_TIMEOUT_S = 30;

/** Each command's synopsis (the usage line), one-line summary, and what its --help adds. */
const COMMANDS = {
  load: {
    synopsis: 'load <file.csv|file.json> [--format csv|json]',
    summary: 'upload a dataset (replaces the loaded one)',
    details: `Streams the file to POST /data, with a progress bar on a terminal; prints how many records
were loaded and why any were skipped. The format comes from the file name, or --format.`,
  },
  submit: {
    synopsis: 'submit <analysis> [--param k=v ...]',
    summary: 'run an analysis as a job; prints its id',
    details: `POST /jobs. Each --param is key=value; values that read as numbers are sent as numbers.
\`meteorites analyses\` lists the analyses and their params. The same analysis with the same
params on the same dataset answers the existing job (deduplicated).`,
  },
  wait: {
    synopsis: 'wait <job-id> [--timeout seconds]',
    summary: 'wait until the job ends (exit 0 finished, 1 failed/cancelled)',
    details: 'Long-polls GET /jobs/{id}. Exit 124 when --timeout runs out before the job ends.',
  },
  result: {
    synopsis: 'result <job-id> [--chart out.png] [--csv out.csv]',
    summary: 'print the result JSON; --chart also saves the chart, --csv the table as CSV',
    details:
      'GET /results/{id}; with --chart, also GET /results/{id}/chart.png into the given file; with --csv, also the result table as CSV (GET /results/{id}?format=csv).',
  },
  jobs: {
    synopsis: 'jobs [--status s] [--limit n]',
    summary: 'list jobs, newest first',
    details: `GET /jobs. --status is one of queued, running, finished, failed, cancelled; --limit caps
the rows (the API's default page otherwise).`,
  },
  cancel: {
    synopsis: 'cancel <job-id>',
    summary: 'cancel a job that has not ended',
    details: `DELETE /jobs/{id}. A queued job is cancelled at once; a running one is asked to stop and
ends cancelled at its next checkpoint. A job that already ended is an error (exit 1).`,
  },
  analyses: {
    synopsis: 'analyses [--json]',
    summary: 'list the analyses submit accepts, with their params',
    details: 'GET /analyses, as a readable list; --json prints the answer as it is (params as JSON Schema).',
  },
  summary: {
    synopsis: 'summary [--json]',
    summary: 'the loaded dataset: version, state, records, source',
    details: 'GET /data/summary; --json prints the answer as it is.',
  },
  fetch: {
    synopsis: 'fetch [--url URL] [--out FILE] [--load] [--timeout seconds]',
    summary: "download NASA's current CSV (and --load it)",
    details: `Downloads the Meteorite Landings dataset to FILE.partial (progress bar on a terminal, one
summary line otherwise), checks that it parses as a dataset and counts its records, then renames
it over FILE. Any failure (no connection, an HTTP error, an HTML page, a body cut off or not
parsing, no data for --timeout seconds) exits 1 and leaves FILE as it was.
  --url URL          default ${NASA_CSV_URL}
  --out FILE         default ${DATASET_FILE}
  --load             then load FILE into the service at API_URL, as \`load\` does
  --timeout seconds  give up after this long without a byte (default ${FETCH_IDLE_TIMEOUT_S})`,
  },
} as const;

export type CommandName = keyof typeof COMMANDS;
const NAMES = Object.keys(COMMANDS) as CommandName[];

const ENVIRONMENT = 'The API is API_URL (default http://127.0.0.1:3000); API_KEY, when set, is sent as a Bearer token.';
const EXIT_CODES = `Exit codes: 0 done, 1 an error (or a job that failed or was cancelled), 2 bad usage,
124 wait --timeout ran out, 130 fetch interrupted.`;

/** Synopses longer than this put their summary on the next line, so the list stays narrow. */
const SYNOPSIS_WIDTH = 46;
const usageLine = ({ synopsis, summary }: { synopsis: string; summary: string }) =>
  synopsis.length <= SYNOPSIS_WIDTH
    ? `  ${synopsis.padEnd(SYNOPSIS_WIDTH)}  ${summary}`
    : `  ${synopsis}\n  ${''.padEnd(SYNOPSIS_WIDTH)}  ${summary}`;

export const USAGE = `usage: meteorites <command> [options]    (or: npm run cli -- <command> [options])

${NAMES.map((n) => usageLine(COMMANDS[n])).join('\n')}

\`meteorites <command> --help\` (or \`meteorites help <command>\`) tells more about one command.
${ENVIRONMENT}
${EXIT_CODES}`;

/** The --help text of one command. */
export function commandHelp(name: CommandName): string {
  const c = COMMANDS[name];
  return `usage: meteorites ${c.synopsis}

${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.

${c.details}

${ENVIRONMENT}
${EXIT_CODES}`;
}

const STATUSES: readonly JobStatus[] = ['queued', 'running', ...ENDED];

export class UsageError extends ServiceError {
  override name = 'UsageError';
  override readonly code = 'usage';
  /** The command whose usage to show with the message; none: the general usage. */
  command: CommandName | undefined;
  constructor(message: string, command?: CommandName) {
    super(message);
    this.command = command;
  }
}

export type Command =
  | { name: 'help'; topic: CommandName | undefined }
  | { name: 'load'; file: string; format: 'csv' | 'json' }
  | { name: 'submit'; analysis: string; params: Record<string, string | number> }
  | { name: 'wait'; id: string; timeoutS: number | undefined }
  | { name: 'result'; id: string; chart: string | undefined; csv: string | undefined }
  | { name: 'jobs'; status: JobStatus | undefined; limit: number | undefined }
  | { name: 'cancel'; id: string }
  | { name: 'analyses'; json: boolean }
  | { name: 'summary'; json: boolean }
  | { name: 'fetch'; url: string; out: string; load: boolean; timeoutS: number };

/** `k=v` pairs into params; values that read as numbers become numbers (`n=20`, `cell_deg=2.5`). */
export function parseParams(pairs: string[]): Record<string, string | number> {
  const params: Record<string, string | number> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param takes key=value, not ${JSON.stringify(pair)}`, 'submit');
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

function none(positionals: string[], name: string): void {
  if (positionals.length > 0) throw new UsageError(`${name} takes no arguments, got ${positionals.join(' ')}`);
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, not ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--url must be an http(s) URL, not ${JSON.stringify(value)}`);
  return url.href;
}

const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

export function parseCommand(argv: string[]): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return { name: 'help', topic: undefined };
  if (name === 'help') {
    if (rest.length === 0) return { name: 'help', topic: undefined };
    const topic = rest[0]!;
    if (rest.length > 1 || !isCommand(topic)) throw new UsageError(`help takes one command name, one of ${NAMES.join(', ')}`);
    return { name: 'help', topic };
  }
  if (!isCommand(name)) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  try {
    return parseOptions(name, rest);
  } catch (err) {
    // Errors about one command's arguments come with that command's usage.
    if (err instanceof UsageError) err.command ??= name;
    throw err;
  }
}

class HelpRequested extends ServiceError {
  override name = 'HelpRequested';
  override readonly code = 'help_requested';
  constructor(readonly topic: CommandName) {
    super(`help for ${topic}`);
  }
}

function parseOptions(name: CommandName, rest: string[]): Command {
  /** parseArgs with `--help`/`-h` added to every command: asking for help needs none of the arguments. */
  const parse = <O extends NonNullable<ParseArgsConfig['options']>>(options: O) => {
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...options, help: { type: 'boolean', short: 'h' } },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(name);
    return parsed;
  };
  try {
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
        const { values, positionals } = parse({ chart: { type: 'string' }, csv: { type: 'string' } });
        return { name, id: one(positionals, 'job id'), chart: values.chart, csv: values.csv };
      }
      case 'jobs': {
        const { values, positionals } = parse({ status: { type: 'string' }, limit: { type: 'string' } });
        none(positionals, name);
        const status = values.status as JobStatus | undefined;
        if (status !== undefined && !STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
        return { name, status, limit: positiveNumber('--limit', values.limit, true) };
      }
      case 'cancel': {
        const { positionals } = parse({});
        return { name, id: one(positionals, 'job id') };
      }
      case 'analyses':
      case 'summary': {
        const { values, positionals } = parse({ json: { type: 'boolean' } });
        none(positionals, name);
        return { name, json: values.json ?? false };
      }
      case 'fetch': {
        const { values, positionals } = parse({
          url: { type: 'string' },
          out: { type: 'string' },
          load: { type: 'boolean' },
          timeout: { type: 'string' },
        });
        none(positionals, name);
        if (values.out !== undefined && values.out.trim() === '') throw new UsageError('--out must name a file');
        return {
          name,
          url: httpUrl(values.url ?? NASA_CSV_URL),
          out: values.out ?? DATASET_FILE,
          load: values.load ?? false,
          timeoutS: positiveNumber('--timeout', values.timeout, false) ?? FETCH_IDLE_TIMEOUT_S,
        };
      }
    }
  } catch (err) {
    if (err instanceof HelpRequested) return { name: 'help', topic: err.topic };
    throw err;
  }
}
