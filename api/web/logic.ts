/**
 * The dashboard's pure parts, free of the DOM so unit tests run them: a form's values to a job's
 * params by the analysis' JSON Schema, a series read from Prometheus text, a result's table and
 * its sort order.
 */
import type { JsonSchema, Row } from './types.ts';

/** A form's values: text for a single field, the chosen options for a list of enums. */
export type Values = Record<string, string | string[]>;

/** The form's starting values: the schema defaults, then what a "same again" link carries. */
export function initialValues(schema: JsonSchema, preset: Record<string, unknown>): Values {
  const values: Values = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const v = name in preset ? preset[name] : prop.default;
    if (prop.type === 'array') values[name] = Array.isArray(v) ? v.map(String) : [];
    else values[name] = v === undefined || v === null ? '' : String(v);
  }
  return values;
}

/** The params to send: what the user filled in, typed as the schema says; empty fields left to the service's defaults. */
export function paramsOf(schema: JsonSchema, values: Values): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const v = values[name];
    if (Array.isArray(v)) {
      // In the schema's order, whatever order they were ticked in.
      if (v.length) params[name] = prop.items?.enum?.filter((e) => v.includes(String(e))) ?? v;
      continue;
    }
    if (v === undefined || v === '') continue;
    const numericEnum = prop.enum !== undefined && prop.enum.every((e) => typeof e === 'number');
    const numeric = prop.type === 'integer' || prop.type === 'number' || numericEnum;
    params[name] = numeric ? Number(v) : v;
  }
  return params;
}

/** A job as an event says it is now: the event carries what changed (status, progress, attempts), not the whole job. */
export function withEvent<J extends { status: string; progress: number; attempts: number }>(
  job: J,
  e: { status: J['status']; progress?: number; attempts?: number },
): J {
  // A finished job's bar is full, whatever the last progress event said.
  const progress = e.progress ?? (e.status === 'finished' ? 1 : job.progress);
  return { ...job, status: e.status, progress, attempts: e.attempts ?? job.attempts };
}

/** The value of one series in Prometheus text, e.g. `meteorites_queue_depth{state="ready"}`; NaN when absent. */
export function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

export interface ResultTable {
  groups?: Row[];
  items?: Row[];
  cells?: Row[];
}

/** The rows of a result (groups, items or cells) and their columns, in the order the rows have them. */
export function tableOf(result: ResultTable): { columns: string[]; rows: Row[] } {
  const rows = result.groups ?? result.items ?? result.cells ?? [];
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return { columns, rows };
}

const empty = (v: unknown) => v === null || v === undefined;

/** Rows sorted by one column: numbers as numbers, text in natural order, empty cells last either way. */
export function sortRows(rows: readonly Row[], col: string, dir: 1 | -1): Row[] {
  return [...rows].sort((x, y) => {
    const a = x[col];
    const b = y[col];
    if (empty(a) || empty(b)) return empty(a) === empty(b) ? 0 : empty(a) ? 1 : -1;
    const c = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), 'en', { numeric: true });
    return c * dir;
  });
}
