/**
 * A finished job's result: the service's chart, the table sortable by any column, downloads,
 * the params and dataset version it was computed on, and a link to ask the same again.
 *
 * The chart is fetched (with the key, when reads need one) and shown as a data: URI, which the
 * CSP allows for images; an SVG in an <img> runs no script and cannot style the page.
 */
import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { download, getJson, send } from '../api.ts';
import { fmtNumber, type Job, type Row } from '../types.ts';
import { ErrorNote } from './parts.ts';
import { sortRows, tableOf, type ResultTable } from '../logic.ts';

interface Result extends ResultTable {
  analysis: string;
  params: Record<string, unknown>;
  dataset_version: number;
  computed_at: string;
  records?: number;
  matched?: number;
  excluded?: Record<string, number>;
}

/** Counts and masses are grouped by thousands; keys (years, bands, decades) are shown as they are. */
const GROUPED = /(count|with_mass|_g)$/;

function cell(v: unknown, column: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return GROUPED.test(column) ? fmtNumber(v) : String(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function SortableTable({ columns, rows }: { columns: string[]; rows: Row[] }) {
  const [sort, setSort] = useState<{ col: string; dir: 1 | -1 } | null>(null);
  const sorted = useMemo(() => (sort ? sortRows(rows, sort.col, sort.dir) : rows), [rows, sort]);
  const numeric = new Set(columns.filter((c) => typeof rows.find((r) => r[c] !== null && r[c] !== undefined)?.[c] === 'number'));
  const toggle = (col: string) => setSort((s) => (s?.col === col ? { col, dir: s.dir === 1 ? -1 : 1 } : { col, dir: 1 }));
  const arrow = (col: string) => (sort?.col !== col ? '' : sort.dir === 1 ? ' ▲' : ' ▼');
  const ariaSort = (col: string) => (sort?.col !== col ? 'none' : sort.dir === 1 ? 'ascending' : 'descending');
  return html`
    <div class="table-wrap">
      <table class="result-table">
        <caption>
          The result, ${rows.length} rows; sort by a column with its header button
        </caption>
        <thead>
          <tr>
            ${columns.map(
              (c) =>
                html`<th scope="col" class=${numeric.has(c) ? 'num' : ''} aria-sort=${ariaSort(c)}>
                  <button type="button" onClick=${() => toggle(c)}>${c}<span aria-hidden="true">${arrow(c)}</span></button>
                </th>`,
            )}
          </tr>
        </thead>
        <tbody>
          ${sorted.map(
            (r) =>
              html`<tr>
                ${columns.map((c) => html`<td class=${numeric.has(c) ? 'num' : ''}>${cell(r[c], c)}</td>`)}
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  `;
}

export function ResultBody({ job }: { job: Job }) {
  const [result, setResult] = useState<Result>();
  const [chart, setChart] = useState<string>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let gone = false;
    void (async () => {
      try {
        const r = await getJson<Result>(`results/${job.id}`);
        if (gone) return;
        setResult(r);
        // Analyses with a table have a chart; the others (a test analysis) answer 404 no_chart.
        if (!r.groups && !r.items && !r.cells) return;
        const svg = await (await send(`results/${job.id}/chart.svg`, { headers: { accept: 'image/svg+xml' } })).text();
        if (!gone) setChart(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`);
      } catch (err) {
        if (!gone) setError(err);
      }
    })();
    return () => {
      gone = true;
    };
  }, [job.id]);

  const base = `${job.analysis}-${job.id}`;
  const save = (path: string, name: string) => () => download(path, name).catch(setError);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!result) return html`<p>Loading the result…</p>`;
  const { columns, rows } = tableOf(result);
  const again = `#/ask/${encodeURIComponent(job.analysis)}?params=${encodeURIComponent(JSON.stringify(job.params))}`;
  return html`
    <section class="result" aria-labelledby="result-title">
      <h2 id="result-title">Result</h2>
      ${chart && html`<figure><img class="chart" src=${chart} alt=${`Chart of the ${job.analysis} result`} /></figure>`}
      <div class="downloads" role="group" aria-label="Downloads">
        ${
          chart &&
          html`<button type="button" onClick=${save(`results/${job.id}/chart.png`, `${base}.png`)}>Download PNG</button>
            <button type="button" onClick=${save(`results/${job.id}/chart.svg`, `${base}.svg`)}>Download SVG</button>`
        }
        <button type="button" onClick=${save(`results/${job.id}?format=csv`, `${base}.csv`)}>Download CSV</button>
        <button type="button" onClick=${save(`results/${job.id}?format=json`, `${base}.json`)}>Download JSON</button>
        <a href=${again}>Ask the same again</a>
      </div>
      ${rows.length ? html`<${SortableTable} columns=${columns} rows=${rows} />` : html`<p>The result has no table.</p>`}
      <h3>Computed on</h3>
      <dl class="inline">
        <dt>Dataset version</dt>
        <dd data-field="dataset_version">${result.dataset_version}</dd>
        ${
          result.records !== undefined &&
          html`<dt>Records</dt>
            <dd>${fmtNumber(result.records)}</dd>`
        }
        ${
          result.matched !== undefined &&
          html`<dt>Matched</dt>
            <dd>${fmtNumber(result.matched)}</dd>`
        }
        ${Object.entries(result.excluded ?? {}).map(
          ([k, v]) =>
            html`<dt>Excluded: ${k}</dt>
              <dd>${fmtNumber(v)}</dd>`,
        )}
      </dl>
      <h3>Params</h3>
      <dl class="inline params">
        ${Object.entries(result.params).map(
          ([k, v]) =>
            html`<dt>${k}</dt>
              <dd><code>${Array.isArray(v) ? v.join(', ') : String(v)}</code></dd>`,
        )}
      </dl>
    </section>
  `;
}
