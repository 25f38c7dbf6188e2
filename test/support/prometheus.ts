/**
 * A strict reader of the Prometheus text format (0.0.4), for tests that scrape GET /metrics: any
 * line it cannot read, or a sample of a family without `# TYPE`, is an error, so a malformed
 * exposition fails the test instead of reading as "metric missing".
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** Family name -> counter | gauge | histogram | summary | untyped. */
  types: Map<string, string>;
  help: Map<string, string>;
}

export class ExpositionFormatError extends Error {
  override name = 'ExpositionFormatError';
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const sampleRe = new RegExp(`^(${NAME})(?:\\{(.*)\\})?[ \\t]+(\\S+)(?:[ \\t]+-?\\d+)?$`);
const labelRe = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const UNESCAPE: Record<string, string> = { '\\\\': '\\', '\\"': '"', '\\n': '\n' };

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  labelRe.lastIndex = 0;
  while (labelRe.lastIndex < text.length) {
    const m = labelRe.exec(text);
    if (!m) throw new ExpositionFormatError(`bad labels in: ${line}`);
    if (m[1]! in labels) throw new ExpositionFormatError(`label ${m[1]} twice in: ${line}`);
    labels[m[1]!] = m[2]!.replace(/\\[\\"n]/g, (e) => UNESCAPE[e]!);
    if (m[3] === '') break;
  }
  return labels;
}

function parseValue(raw: string, line: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  const n = Number(raw);
  if (raw === '' || (Number.isNaN(n) && raw !== 'NaN')) throw new ExpositionFormatError(`bad value in: ${line}`);
  return n;
}

/** The family a sample belongs to: histograms and summaries add suffixes to their name. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const type = types.get(base);
  return type === 'histogram' || type === 'summary' ? base : undefined;
}

export function parsePrometheus(text: string): Exposition {
  const exp: Exposition = { samples: [], types: new Map(), help: new Map() };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') exp.types.set(meta[2]!, meta[3]!);
      else exp.help.set(meta[2]!, meta[3]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = sampleRe.exec(line);
    if (!m) throw new ExpositionFormatError(`unreadable line: ${line}`);
    if (!familyOf(m[1]!, exp.types)) throw new ExpositionFormatError(`sample before its # TYPE: ${line}`);
    exp.samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value: parseValue(m[3]!, line) });
  }
  return exp;
}

/** Samples of `name` whose labels include every given one. */
export function samples(exp: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exp.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with these labels (throws when there is none or more than one). */
export function sampleValue(exp: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = samples(exp, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}
