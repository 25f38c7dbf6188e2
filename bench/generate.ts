/**
 * Synthetic Meteorite Landings in NASA's CSV shape, for measuring how the service scales past the
 * real 45,716 records. Deterministic: a seeded PRNG (mulberry32) and a fixed order of draws, so
 * a seed names one exact file. The mix follows the real dataset: 466 classes with its skew (the
 * twelve commonest with their real counts, a power-law tail), years 860–2013 mostly after 1970,
 * 16 % without coordinates and 13.6 % at exactly 0,0, 0.64 % without a year, 0.29 % without a
 * mass, log-normal masses (plus a thin heavy tail) from 0.01 g to 60 t, 2.4 % seen falling,
 * 0.16 % relicts. Fields are quoted as NASA's file does: only when they hold a comma, a quote
 * or a line break, and GeoLocation always.
 *
 *   npx tsx bench/generate.ts <N> [--seed S] [out.csv|-]     (stdout when no file or `-`)
 */
import { createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { mulberry32, type Rng } from '@meteorites/test-utils/prng';

export const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';

/** Shares of the real dataset the generator reproduces (per record, independent draws). */
export const MIX = {
  missingCoordinates: 0.16,
  zeroCoordinates: 0.136,
  missingYear: 0.0064,
  missingMass: 0.0029,
  fell: 0.0242,
  relict: 0.0016,
  /** Of the records with a year. */
  after1970: 0.948,
  /** Of the years up to 1970. */
  before1800: 0.025,
  /** log10 of the mass in grams: the real file's mean and standard deviation. */
  log10Mass: { mean: 1.635, sd: 1.093 },
  /** Records whose mass comes from a log-uniform 10 kg–60 t tail instead (the normal alone never reaches 60 t). */
  heavyTail: 0.0005,
  massRange: [0.01, 60_000_000] as const,
  yearRange: [860, 2013] as const,
} as const;

export { mulberry32, type Rng };

// The commonest classes with their real counts; together 80 % of the records.
const TOP: [string, number][] = [
  ['L6', 8285],
  ['H5', 7142],
  ['L5', 4796],
  ['H6', 4528],
  ['H4', 4211],
  ['LL5', 2766],
  ['LL6', 2043],
  ['L4', 1253],
  ['H4/5', 428],
  ['CM2', 416],
  ['H3', 386],
  ['L3', 365],
];
const REAL_RECORDS = 45_716;
const CLASS_COUNT = 466;
/** The tail's counts fall as rank^-1.62: from the 13th class' ~335 records to the 466th's ~1, as in the real file. */
const TAIL_EXPONENT = 1.62;

/** 454 class names for the tail, frequent-looking ones first, the rest in a fixed shuffled order. */
function tailNames(): string[] {
  const first = [
    'CO3',
    'Ureilite',
    'Iron, IIIAB',
    'LL4',
    'CV3',
    'Diogenite',
    'Eucrite-pmict',
    'Howardite',
    'LL3',
    'Iron, IAB-MG',
    'H',
    'L',
    'Mesosiderite',
    'EH3',
    'Lunar (anorth)',
    'Pallasite, PMG',
    'Martian (shergottite)',
    'Iron, IVA',
    'Iron, IIAB',
    'Eucrite',
    'CK4',
    'R3',
    'Acapulcoite',
    'Aubrite',
    'Winonaite',
    'Lodranite',
    'Angrite',
    'Brachinite',
    'Stone-uncl',
    'Iron, ungrouped',
    'Chondrite-ung',
    'Achondrite-ung',
    'OC',
    'Iron',
    'Relict iron',
  ];
  const groups = ['H', 'L', 'LL', 'EH', 'EL', 'CO', 'CV', 'CK', 'CR', 'CM', 'R', 'CH', 'CB', 'K', 'C', 'E'];
  const types = [
    '3.0',
    '3.1',
    '3.2',
    '3.3',
    '3.4',
    '3.5',
    '3.6',
    '3.7',
    '3.8',
    '3.9',
    '3-4',
    '3-5',
    '3-6',
    '4-5',
    '4-6',
    '5-6',
    '3/4',
    '5/6',
    '6/7',
    '7',
    '-melt breccia',
    '-imp melt',
    '-an',
    '-melt rock',
    '(?)',
    '4-an',
    '5-an',
    '6-an',
  ];
  const irons = [
    'IAB-sHL',
    'IAB-sLL',
    'IAB-ung',
    'IAB complex',
    'IIC',
    'IID',
    'IIE',
    'IIE-an',
    'IIF',
    'IIG',
    'IIIE',
    'IIIF',
    'IVB',
    'IC',
    'IIIAB-an',
    'IVA-an',
    'IIAB-an',
    'IAB?',
    'IIIAB?',
  ];
  const achondrites = [
    'Eucrite-mmict',
    'Eucrite-cm',
    'Eucrite-br',
    'Eucrite-unbr',
    'Eucrite-an',
    'Diogenite-pm',
    'Diogenite-olivine',
    'Howardite-an',
    'Ureilite-pmict',
    'Ureilite-an',
    'Lunar (bas. breccia)',
    'Lunar (feldsp. breccia)',
    'Lunar (basalt)',
    'Lunar (gabbro)',
    'Lunar (norite)',
    'Martian (nakhlite)',
    'Martian (chassignite)',
    'Martian (OPX)',
    'Martian (basaltic breccia)',
    'Mesosiderite-A1',
    'Mesosiderite-A3',
    'Mesosiderite-B2',
    'Mesosiderite-C2',
    'Pallasite, ungrouped',
    'Pallasite, Eagle Station grp',
    'Pallasite, pyroxene grp',
  ];
  const rest = [...groups.flatMap((g) => types.map((t) => g + t)), ...irons.map((t) => `Iron, ${t}`), ...achondrites];
  const shuffle = mulberry32(466);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  const taken = new Set(TOP.map(([name]) => name));
  const out: string[] = [];
  for (const name of [...first, ...rest]) {
    if (taken.has(name)) continue;
    taken.add(name);
    out.push(name);
    if (out.length === CLASS_COUNT - TOP.length) return out;
  }
  throw new Error('too few class names for the tail');
}

/** Every class with its probability, commonest first. */
export const CLASSES: readonly { name: string; p: number }[] = (() => {
  const tail = tailNames();
  const topTotal = TOP.reduce((s, [, c]) => s + c, 0);
  const rankWeight = tail.map((_, i) => (TOP.length + 1 + i) ** -TAIL_EXPONENT);
  const rankTotal = rankWeight.reduce((s, w) => s + w, 0);
  const tailTotal = REAL_RECORDS - topTotal;
  return [
    ...TOP.map(([name, c]) => ({ name, p: c / REAL_RECORDS })),
    ...tail.map((name, i) => ({ name, p: (tailTotal * rankWeight[i]!) / rankTotal / REAL_RECORDS })),
  ];
})();

/** How many distinct classes N records are expected to show (rare ones appear only in large files). */
export function expectedDistinctClasses(n: number): number {
  return CLASSES.reduce((s, c) => s + 1 - (1 - c.p) ** n, 0);
}

const CUMULATIVE = (() => {
  const cum = new Float64Array(CLASSES.length);
  let s = 0;
  CLASSES.forEach((c, i) => (cum[i] = s += c.p));
  cum[cum.length - 1] = 1;
  return cum;
})();

function pickClass(u: number): string {
  let lo = 0;
  let hi = CUMULATIVE.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (CUMULATIVE[mid]! <= u) lo = mid + 1;
    else hi = mid;
  }
  return CLASSES[lo]!.name;
}

const PLACES = [
  'Yamato',
  'Northwest Africa',
  'Queen Alexandra Range',
  'Grove Mountains',
  'Elephant Moraine',
  'Miller Range',
  'Lewis Cliff',
  'LaPaz Icefield',
  'Asuka',
  'Dhofar',
  'Meteorite Hills',
  'Dar al Gani',
  'Allan Hills',
  'Sahara',
  'Acfer',
  'Frontier Mountain',
  'Jiddat al Harasis',
  'Roosevelt County',
  'Hammadah al Hamra',
  'Reckling Peak',
  'Bjurböle',
  'Château-Renard',
  'Çanakkale',
  'Cañellas',
];

/** Where finds cluster (Antarctic ice fields, hot deserts): [lat, lon]. */
const FIELDS: [number, number][] = [
  [-71.5, 35.66667],
  [-76.71667, 159.66667],
  [-84.5, 162],
  [-76.18333, 157.16667],
  [-83.25, 157.5],
  [-72.78, 75.3],
  [-84.28, 161.5],
  [-86.36667, -70],
  [19, 54.6],
  [27, 16.2],
  [27.7, 4.4],
  [34, -103.3],
  [29, 12.5],
  [19.8, 56.4],
];

/** Years from 1971 on: [first, last, share] per stretch, after the real decade counts. */
const RECENT: [number, number, number][] = [
  [1971, 1979, 4500],
  [1980, 1989, 6822],
  [1990, 1999, 11619],
  [2000, 2009, 17757],
  [2010, 2013, 1964],
];
const RECENT_TOTAL = RECENT.reduce((s, [, , w]) => s + w, 0);

const round5 = (x: number) => Math.round(x * 1e5) / 1e5 + 0;
/** As NASA's GeoLocation writes a coordinate (Python's float repr: `6.08333`, `-113.0`). */
const geoNumber = (x: number) => (Number.isInteger(x) ? x.toFixed(1) : String(x));
const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

function massText(m: number): string {
  const digits = m >= 1000 ? 0 : m >= 10 ? 1 : 2;
  return String(Number(m.toFixed(digits)));
}

/** A standard normal draw (Box–Muller; two uniforms per draw keeps the sequence simple). */
function normal(rng: Rng): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

function year(rng: Rng): number {
  const [minYear, maxYear] = MIX.yearRange;
  if (rng() < MIX.after1970) {
    let w = rng() * RECENT_TOTAL;
    for (const [from, to, share] of RECENT) {
      if (w < share) return from + Math.floor(rng() * (to - from + 1));
      w -= share;
    }
    return maxYear;
  }
  return rng() < MIX.before1800 ? minYear + Math.floor(rng() * (1800 - minYear)) : 1800 + Math.floor(rng() * 171);
}

function mass(rng: Rng): number {
  const [lo, hi] = MIX.massRange;
  const log10 = rng() < MIX.heavyTail ? 4 + rng() * (Math.log10(hi) - 4) : MIX.log10Mass.mean + MIX.log10Mass.sd * normal(rng);
  return Math.min(hi, Math.max(lo, 10 ** log10));
}

function coordinates(rng: Rng): string {
  const u = rng();
  if (u < MIX.missingCoordinates) return ',,';
  if (u < MIX.missingCoordinates + MIX.zeroCoordinates) return '0.000000,0.000000,"(0.0, 0.0)"';
  let lat: number;
  let lon: number;
  if (rng() < 0.6) {
    const [fLat, fLon] = FIELDS[Math.floor(rng() * FIELDS.length)]!;
    lat = Math.max(-90, Math.min(90, round5(fLat + (rng() - 0.5))));
    lon = round5(fLon + (rng() - 0.5));
  } else {
    lat = round5(-60 + rng() * 135);
    lon = round5(-180 + rng() * 360);
  }
  return `${lat.toFixed(6)},${lon.toFixed(6)},"(${geoNumber(lat)}, ${geoNumber(lon)})"`;
}

export interface GenerateOptions {
  /** The PRNG seed (an unsigned 32-bit integer); default 1. */
  seed?: number;
  /** Records per yielded chunk. */
  chunkRecords?: number;
}

/**
 * The CSV text, header first, in chunks of a few hundred kilobytes: a million records never sit
 * in memory at once. Pipe it (`Readable.from(csvChunks(n))`) to a file or to the parser.
 */
export function* csvChunks(n: number, opts: GenerateOptions = {}): Generator<string> {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`the record count must be a non-negative integer, not ${n}`);
  const rng = mulberry32(opts.seed ?? 1);
  const per = opts.chunkRecords ?? 4096;
  let rows: string[] = [HEADER];
  let id = 0;
  for (let i = 0; i < n; i++) {
    // Real ids have gaps (withdrawn names): about one in five steps skips a few.
    id += rng() < 0.2 ? 2 + Math.floor(rng() * 3) : 1;
    const name = `${PLACES[Math.floor(rng() * PLACES.length)]} ${String(Math.floor(rng() * 100_000)).padStart(3, '0')}`;
    const nametype = rng() < MIX.relict ? 'Relict' : 'Valid';
    const recclass = quote(pickClass(rng()));
    const m = rng() < MIX.missingMass ? '' : massText(mass(rng));
    const fall = rng() < MIX.fell ? 'Fell' : 'Found';
    const y = rng() < MIX.missingYear ? '' : String(year(rng));
    rows.push(`${quote(name)},${id},${nametype},${recclass},${m},${fall},${y},${coordinates(rng)}`);
    if (rows.length >= per) {
      yield `${rows.join('\n')}\n`;
      rows = [];
    }
  }
  if (rows.length > 0) yield `${rows.join('\n')}\n`;
}

/** Writes N records to a stream (a file, stdout), respecting its backpressure. */
export async function writeCsv(out: Writable, n: number, opts: GenerateOptions = {}): Promise<void> {
  await pipeline(Readable.from(csvChunks(n, opts)), out);
}

/** Writes N records to a file. */
export async function writeCsvFile(path: string, n: number, opts: GenerateOptions = {}): Promise<void> {
  await writeCsv(createWriteStream(path), n, opts);
}

class UsageError extends Error {
  override name = 'UsageError';
}

async function cli(argv: string[]): Promise<void> {
  const usage = 'usage: npx tsx bench/generate.ts <N> [--seed S] [out.csv|-]';
  const { values, positionals } = parseArgs({ args: argv, options: { seed: { type: 'string' } }, allowPositionals: true });
  const [count, out = '-'] = positionals;
  const n = Number(count);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (positionals.length < 1 || positionals.length > 2 || !Number.isSafeInteger(n) || n < 0) throw new UsageError(usage);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new UsageError(`--seed must be an integer from 0 to ${0xffffffff}\n${usage}`);
  if (out === '-') await writeCsv(process.stdout, n, { seed });
  else await writeCsvFile(out, n, { seed });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await cli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
