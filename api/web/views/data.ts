/**
 * Data: browse and filter the landings (GET /meteorites, by cursor pages), one landing's page,
 * and loading a file (POST /data) with an upload progress bar and the load's outcome, skipped
 * records and their reasons included.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson, upload } from '../api.ts';
import { announce } from '../store.ts';
import { fmtNumber, type Row } from '../types.ts';
import { ErrorNote } from './parts.ts';

const CLASS_TYPES = ['Chondrite', 'Primitive achondrite', 'Achondrite', 'Stony-iron', 'Iron', 'Unclassified'];
const TEXT_FILTERS = ['recclass', 'class_group'] as const;
const NUMBER_FILTERS = ['year_from', 'year_to', 'mass_min', 'mass_max'] as const;
const PAGE_SIZE = 25;
const FIELDS = ['id', 'name', 'recclass', 'class_type', 'class_group', 'mass_g', 'fall', 'year', 'reclat', 'reclong', 'nametype'];

/** A field for a table: masses grouped by thousands (years and coordinates not), missing ones a dash. */
const shown = (v: unknown, field = '') => (v === null || v === undefined ? '—' : field === 'mass_g' ? fmtNumber(v as number) : String(v));

interface LoadOutcome {
  version: number;
  records: number;
  skipped: { index: number; id: string | null; reason: string }[];
  skipped_total: number;
}

function Upload() {
  const [file, setFile] = useState<File>();
  const [sent, setSent] = useState<number>();
  const [outcome, setOutcome] = useState<LoadOutcome>();
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    const type = /\.csv$/i.test(file.name) ? 'text/csv' : 'application/json';
    setError(undefined);
    setOutcome(undefined);
    setSent(0);
    try {
      const result = await upload<LoadOutcome>(`data?source=${encodeURIComponent(file.name)}`, file, type, setSent);
      setSent(1);
      setOutcome(result);
      announce(`Loaded ${result.records} records, ${result.skipped_total} skipped`);
    } catch (err) {
      setError(err);
      setSent(undefined);
    }
  };
  return html`
    <section aria-labelledby="upload-title" class="card">
      <h2 id="upload-title">Load a dataset</h2>
      <p>A CSV (NASA's columns) or JSON file replaces the loaded dataset.</p>
      <form onSubmit=${submit}>
        <label for="upload-file">File</label>
        <input
          id="upload-file"
          type="file"
          accept=".csv,.json,text/csv,application/json"
          onChange=${(e: Event) => setFile((e.target as HTMLInputElement).files?.[0])}
        />
        <button type="submit" disabled=${!file || (sent !== undefined && !outcome && !error)}>Upload</button>
      </form>
      ${
        sent !== undefined &&
        html`<p>
          <label for="upload-progress">Sent</label>
          <progress id="upload-progress" max="100" value=${Math.round(sent * 100)}></progress> ${Math.round(sent * 100)}
          %${sent >= 1 && !outcome ? ', the service is loading it…' : ''}
        </p>`
      }
      <${ErrorNote} error=${error} />
      ${
        outcome &&
        html`<div class="outcome" role="status">
          <p>
            Loaded <strong data-field="loaded-records">${fmtNumber(outcome.records)}</strong> records as version ${outcome.version};${' '}
            <strong data-field="skipped-total">${fmtNumber(outcome.skipped_total)}</strong> skipped.
          </p>
          ${
            outcome.skipped.length > 0 &&
            html`<table>
              <caption>
                Skipped records${outcome.skipped_total > outcome.skipped.length ? `, the first ${outcome.skipped.length}` : ''}
              </caption>
              <thead>
                <tr>
                  <th scope="col" class="num">Position</th>
                  <th scope="col">Id</th>
                  <th scope="col">Reason</th>
                </tr>
              </thead>
              <tbody>
                ${outcome.skipped.map(
                  (s) =>
                    html`<tr>
                      <td class="num">${s.index}</td>
                      <td>${s.id ?? '—'}</td>
                      <td>${s.reason}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          }
        </div>`
      }
    </section>
  `;
}

export function DataView() {
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [applied, setApplied] = useState<Record<string, string>>({});
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<{ items: Row[]; next_cursor: string | null }>();
  const [error, setError] = useState<unknown>();
  const cursor = cursors.at(-1) ?? null;
  useEffect(() => {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [k, v] of Object.entries(applied)) if (v) q.set(k, v);
    if (cursor) q.set('cursor', cursor);
    getJson<{ items: Row[]; next_cursor: string | null }>(`meteorites?${q}`).then((p) => {
      setPage(p);
      setError(undefined);
    }, setError);
  }, [applied, cursor]);
  const set = (k: string) => (e: Event) => setFilters((f) => ({ ...f, [k]: (e.target as HTMLInputElement).value }));
  const filterInput = (k: string, type: string) =>
    html`<span><label for=${`m-${k}`}>${k}</label><input id=${`m-${k}`} type=${type} value=${filters[k] ?? ''} onInput=${set(k)} /></span>`;
  const next = () => page?.next_cursor && setCursors((c) => [...c, page.next_cursor]);
  const apply = (e: Event) => {
    e.preventDefault();
    setApplied(filters);
    setCursors([null]);
  };
  return html`
    <h1 tabindex="-1">Data</h1>
    <${Upload} />
    <section aria-labelledby="browse-title">
      <h2 id="browse-title">Landings</h2>
      <form class="filters" onSubmit=${apply}>
        ${TEXT_FILTERS.map((k) => filterInput(k, 'text'))}
        <span
          ><label for="m-class_type">class_type</label>
          <select id="m-class_type" value=${filters.class_type ?? ''} onChange=${set('class_type')}>
            <option value="">any</option>
            ${CLASS_TYPES.map((c) => html`<option value=${c}>${c}</option>`)}
          </select></span
        >
        <span
          ><label for="m-fall">fall</label>
          <select id="m-fall" value=${filters.fall ?? ''} onChange=${set('fall')}>
            <option value="">any</option>
            <option value="Fell">Fell</option>
            <option value="Found">Found</option>
          </select></span
        >
        ${NUMBER_FILTERS.map((k) => filterInput(k, 'number'))}
        <button type="submit">Filter</button>
      </form>
      <${ErrorNote} error=${error} />
      <div class="table-wrap">
        <table>
          <caption>
            Landings in id order
          </caption>
          <thead>
            <tr>
              ${['name', 'recclass', 'mass_g', 'fall', 'year'].map((c) => html`<th scope="col">${c}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${(page?.items ?? []).map(
              (m) =>
                html`<tr>
                  <td><a href=${`#/landing/${m.id}`}>${m.name}</a></td>
                  <td>${shown(m.recclass)}</td>
                  <td class="num">${shown(m.mass_g, 'mass_g')}</td>
                  <td>${shown(m.fall)}</td>
                  <td class="num">${shown(m.year)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
        ${page && !page.items.length && html`<p>No landings match.</p>`}
      </div>
      <nav class="pager" aria-label="Landing pages">
        <button type="button" disabled=${cursors.length < 2} onClick=${() => setCursors((c) => c.slice(0, -1))}>Previous</button>
        <span>Page ${cursors.length}</span>
        <button type="button" disabled=${!page?.next_cursor} onClick=${next}>Next</button>
      </nav>
    </section>
  `;
}

export function LandingView({ id }: { id: string }) {
  const [landing, setLanding] = useState<Row>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    getJson<Row>(`meteorites/${encodeURIComponent(id)}`).then(setLanding, setError);
  }, [id]);
  return html`
    <h1 tabindex="-1">${landing ? String(landing.name) : 'Landing'}</h1>
    <p><a href="#/data">All landings</a></p>
    <${ErrorNote} error=${error} />
    ${
      landing &&
      html`<dl class="card">
        ${FIELDS.map(
          (f) =>
            html`<dt>${f}</dt>
              <dd>${shown(landing[f], f)}</dd>`,
        )}
      </dl>`
    }
  `;
}
