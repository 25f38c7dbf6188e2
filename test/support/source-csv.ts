/**
 * A reading of NASA's CSV that shares no code with the service, for tests to compute what the
 * API should answer: one record per line, quoted fields with doubled quotes, values trimmed,
 * empty = null, numbers as JavaScript reads them.
 */
import { readFileSync } from 'node:fs';
import { classify, type Meteorite } from '@meteorites/shared';

export function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (line[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** Every row of a NASA-layout CSV text as the API's Meteorite shape (no validation: rows as written). */
export function parseNasaCsv(text: string): Meteorite[] {
  const [header = '', ...lines] = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
  const columns = splitCsvLine(header);
  return lines.map((line) => {
    const fields = splitCsvLine(line).map((v) => v.trim());
    const str = (name: string) => fields[columns.indexOf(name)] || null;
    const num = (name: string) => (str(name) === null ? null : Number(str(name)));
    return withClass({
      id: str('id')!,
      name: str('name')!,
      nametype: str('nametype'),
      recclass: str('recclass'),
      mass_g: num('mass (g)'),
      fall: str('fall'),
      year: num('year'),
      reclat: num('reclat'),
      reclong: num('reclong'),
    });
  });
}

/** A record as the API answers it: with the class type and group derived from its recclass. */
export function withClass(m: Omit<Meteorite, 'class_type' | 'class_group'>): Meteorite {
  const c = classify(m.recclass);
  return { ...m, class_type: c?.class_type ?? null, class_group: c?.class_group ?? null };
}

export function readNasaCsv(path: string): Meteorite[] {
  return parseNasaCsv(readFileSync(path, 'utf8'));
}

export const byNumericId = (a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id);

/** Whether the service can store a row: coordinates inside the globe (NASA has one longitude of 354.47). */
export const loadable = (m: Meteorite): boolean =>
  (m.reclat === null || Math.abs(m.reclat) <= 90) && (m.reclong === null || Math.abs(m.reclong) <= 360);

/** The records a load of this CSV text must leave in Redis: its loadable rows, by numeric id. */
export const expectedRecords = (text: string): Meteorite[] => parseNasaCsv(text).filter(loadable).sort(byNumericId);

/** The header and the first `rows` rows of a CSV text. */
export const firstRows = (text: string, rows: number): string =>
  text
    .split('\n')
    .slice(0, rows + 1)
    .join('\n');
