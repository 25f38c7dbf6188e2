/** How the commands print: results to stdout, one line at a time; sizes in MiB; tables padded. */

export const out = (line: string): void => void process.stdout.write(`${line}\n`);

export const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

/** Columns padded to their widest cell; the last one is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
