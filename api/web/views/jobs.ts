/**
 * Jobs: the job index, newest first, live. Status filters on the server (GET /jobs?status=);
 * the analysis filter applies to the page read, as GET /jobs has no analysis parameter (a larger
 * page then). Pages follow the cursor; a stack of the cursors seen leads back.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { del, getJson } from '../api.ts';
import { useLive, type JobStatus } from '../live.ts';
import { announce } from '../store.ts';
import { duration, fmtTime, type AnalysisInfo, type Job } from '../types.ts';
import { ErrorNote, ProgressBar, StatusBadge } from './parts.ts';
import { withEvent } from '../logic.ts';

const STATUSES: JobStatus[] = ['queued', 'running', 'finished', 'failed', 'cancelled'];
const PAGE_SIZE = 20;
const FILTERED_PAGE_SIZE = 200;

export function Jobs() {
  const [status, setStatus] = useState('');
  const [analysis, setAnalysis] = useState('');
  const [analyses, setAnalyses] = useState<string[]>([]);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<{ items: Job[]; next_cursor: string | null }>();
  const [error, setError] = useState<unknown>();
  const cursor = cursors.at(-1) ?? null;

  const refresh = async () => {
    // GET /jobs has no analysis parameter: a filtered page reads more jobs to have enough of that analysis.
    const q = new URLSearchParams({ limit: String(analysis ? FILTERED_PAGE_SIZE : PAGE_SIZE) });
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    try {
      setPage(await getJson(`jobs?${q}`));
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => void refresh(), [status, cursor, analysis]);
  useEffect(() => {
    getJson<AnalysisInfo[]>('analyses').then((a) => setAnalyses(a.map((x) => x.name)), setError);
  }, []);
  useLive({
    refresh: () => void refresh(),
    job: (e) => setPage((p) => p && { ...p, items: p.items.map((j) => (j.id === e.id ? withEvent(j, e) : j)) }),
  });

  const cancel = async (job: Job) => {
    try {
      const after = await del<Job>(`jobs/${job.id}`);
      announce(after.status === 'cancelled' ? `Job ${job.analysis} cancelled` : `Cancel of ${job.analysis} requested`);
      await refresh();
    } catch (err) {
      setError(err);
    }
  };
  const older = () => page?.next_cursor && setCursors((c) => [...c, page.next_cursor]);
  const filterAnalysis = (e: Event) => {
    setAnalysis((e.target as HTMLSelectElement).value);
    setCursors([null]);
  };
  const filterStatus = (e: Event) => {
    setStatus((e.target as HTMLSelectElement).value);
    setCursors([null]);
  };

  const rows = (page?.items ?? []).filter((j) => !analysis || j.analysis === analysis);
  return html`
    <h1 tabindex="-1">Jobs</h1>
    <form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <label for="jobs-status">Status</label>
      <select id="jobs-status" value=${status} onChange=${filterStatus}>
        <option value="">any</option>
        ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <label for="jobs-analysis">Analysis</label>
      <select id="jobs-analysis" value=${analysis} onChange=${filterAnalysis}>
        <option value="">any</option>
        ${analyses.map((a) => html`<option value=${a}>${a}</option>`)}
      </select>
    </form>
    <${ErrorNote} error=${error} />
    <div class="table-wrap">
      <table class="jobs">
        <caption>
          Jobs, newest first${status ? `, ${status}` : ''}${analysis ? `, ${analysis}` : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Analysis</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col">Attempts</th>
            <th scope="col">Created</th>
            <th scope="col">Duration</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (j) =>
              html`<tr data-job=${j.id}>
                <td><a href=${`#/result/${j.id}`} title=${j.id}>${j.analysis}</a></td>
                <td><${StatusBadge} job=${j} /></td>
                <td><${ProgressBar} job=${j} label=${`Progress of ${j.analysis} ${j.id.slice(0, 8)}`} /></td>
                <td class="num">${j.attempts}</td>
                <td>${fmtTime(j.created_at)}</td>
                <td class="num">${duration(j)}</td>
                <td>
                  ${
                    (j.status === 'queued' || j.status === 'running') &&
                    html`<button
                      type="button"
                      onClick=${() => cancel(j)}
                      disabled=${j.cancel_requested}
                      aria-label=${`Cancel ${j.analysis} ${j.id.slice(0, 8)}`}
                    >
                      Cancel
                    </button>`
                  }
                  ${j.status === 'finished' && html`<a href=${`#/result/${j.id}`}>Result</a>`}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${page && !rows.length && html`<p>No jobs here.</p>`}
    </div>
    <nav class="pager" aria-label="Job pages">
      <button type="button" disabled=${cursors.length < 2} onClick=${() => setCursors((c) => c.slice(0, -1))}>Newer</button>
      <span>Page ${cursors.length}</span>
      <button type="button" disabled=${!page?.next_cursor} onClick=${older}>Older</button>
    </nav>
  `;
}
