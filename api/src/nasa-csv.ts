/**
 * Writes landings in the column layout of NASA's CSV export, so a file served by `GET /data`
 * loads back through `POST /data` and opens in the same tools as the original.
 */
import type { Meteorite } from '@meteorites/shared';

export const NASA_CSV_HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation\n';

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const s = String(value);
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** NASA writes whole coordinates Python-style (`-113.0`); matching it keeps diffs against the original quiet. */
const coordinate = (n: number): string => (Number.isInteger(n) ? n.toFixed(1) : String(n));

export function nasaCsvRow(m: Meteorite): string {
  const geo = m.reclat !== null && m.reclong !== null ? `"(${coordinate(m.reclat)}, ${coordinate(m.reclong)})"` : '';
  return `${[m.name, m.id, m.nametype, m.recclass, m.mass_g, m.fall, m.year, m.reclat, m.reclong].map(csvField).join(',')},${geo}\n`;
}

/** NASA's columns, then the derived classification (GET /meteorites as CSV). */
export const CLASSIFIED_CSV_HEADER = `${NASA_CSV_HEADER.trimEnd()},class_type,class_group\n`;

export function classifiedCsvRow(m: Meteorite): string {
  return `${nasaCsvRow(m).slice(0, -1)},${csvField(m.class_type)},${csvField(m.class_group)}\n`;
}
