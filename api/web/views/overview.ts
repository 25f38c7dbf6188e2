/**
 * Overview: the dataset, the queue, the workers and the last hour's outcomes, kept current by
 * the live updates. Queue and workers come from /metrics (the gauges every API process reads
 * from Redis); the last hour's counts from the job index (finished_at within the hour).
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson, send } from '../api.ts';
import { useLive } from '../live.ts';
import { metric, withEvent } from '../logic.ts';
import { ErrorNote, ProgressBar, StatusBadge } from './parts.ts';
import { duration, fmtNumber, fmtTime, type DatasetSummary, type Job } from '../types.ts';

interface QueueView {
  ready: number;
  delayed: number;
  running: number;
  workers: number;
}

const PAGE = 1000;
const RECENT = 8;

/** Jobs with this status that ended within the last hour; `more` when the first page did not reach past the hour. */
async function lastHour(status: 'finished' | 'failed'): Promise<{ count: number; more: boolean }> {
  const since = Date.now() - 3600_000;
  const page = await getJson<{ items: Job[]; next_cursor: string | null }>(`jobs?status=${status}&limit=${PAGE}`);
  const count = page.items.filter((j) => j.finished_at && Date.parse(j.finished_at) >= since).length;
  const oldest = page.items.at(-1);
  return { count, more: page.next_cursor !== null && !!oldest && Date.parse(oldest.created_at) >= since };
}

export function Overview() {
  const [dataset, setDataset] = useState<DatasetSummary>();
  const [queue, setQueue] = useState<QueueView>();
  const [hour, setHour] = useState<{ finished: string; failed: string }>();
  const [recent, setRecent] = useState<Job[]>();
  const [error, setError] = useState<unknown>();

  const refresh = async () => {
    try {
      const [summary, text, finished, failed, latest] = await Promise.all([
        getJson<DatasetSummary>('data/summary'),
        send('metrics', { headers: { accept: 'text/plain' } }).then((r) => r.text()),
        lastHour('finished'),
        lastHour('failed'),
        getJson<{ items: Job[] }>(`jobs?limit=${RECENT}`),
      ]);
      setRecent(latest.items);
      setDataset(summary);
      setQueue({
        ready: metric(text, 'meteorites_queue_depth{state="ready"}'),
        delayed: metric(text, 'meteorites_queue_depth{state="delayed"}'),
        running: metric(text, 'meteorites_jobs_running'),
        workers: metric(text, 'meteorites_workers'),
      });
      const shown = (r: { count: number; more: boolean }) => `${fmtNumber(r.count)}${r.more ? '+' : ''}`;
      setHour({ finished: shown(finished), failed: shown(failed) });
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => void refresh(), []);
  useLive({
    refresh: () => void refresh(),
    // Workers come and go without an event.
    everyMs: 10_000,
    job: (e) => setRecent((jobs) => jobs?.map((j) => (j.id === e.id ? withEvent(j, e) : j))),
    dataset: (e) => setDataset((d) => d && { ...d, state: e.state, version: e.version ?? d.version, records: e.records ?? d.records }),
  });

  return html`
    <h1 tabindex="-1">Overview</h1>
    <${ErrorNote} error=${error} />
    <div class="cards">
      <section class="card" aria-labelledby="ov-dataset">
        <h2 id="ov-dataset">Dataset</h2>
        ${
          dataset
            ? html`<dl>
                <dt>Records</dt>
                <dd data-field="records">${fmtNumber(dataset.records)}</dd>
                <dt>Version</dt>
                <dd data-field="version">${dataset.version}</dd>
                <dt>State</dt>
                <dd data-field="state">${dataset.state}</dd>
                <dt>Loaded at</dt>
                <dd>${fmtTime(dataset.loaded_at)}</dd>
                <dt>Source</dt>
                <dd>${dataset.source ?? '—'}</dd>
              </dl>`
            : html`<p>Loading…</p>`
        }
      </section>
      <section class="card" aria-labelledby="ov-queue">
        <h2 id="ov-queue">Queue</h2>
        ${
          queue
            ? html`<dl>
                <dt>Ready</dt>
                <dd data-field="ready">${queue.ready}</dd>
                <dt>Delayed</dt>
                <dd data-field="delayed">${queue.delayed}</dd>
                <dt>Running</dt>
                <dd data-field="running">${queue.running}</dd>
                <dt>Workers alive</dt>
                <dd data-field="workers">${queue.workers}</dd>
              </dl>`
            : html`<p>Loading…</p>`
        }
      </section>
      <section class="card" aria-labelledby="ov-hour">
        <h2 id="ov-hour">Last hour</h2>
        ${
          hour
            ? html`<dl>
                <dt>Finished</dt>
                <dd data-field="finished">${hour.finished}</dd>
                <dt>Failed</dt>
                <dd data-field="failed">${hour.failed}</dd>
              </dl>`
            : html`<p>Loading…</p>`
        }
        <p><a href="#/jobs">All jobs</a> · <a href="#/ask">Ask a question</a></p>
      </section>
    </div>
    <section aria-labelledby="ov-recent">
      <h2 id="ov-recent">Latest jobs</h2>
      ${recent && !recent.length && html`<p>No jobs yet: <a href="#/ask">ask a question</a>.</p>`}
      ${
        recent?.length
          ? html`<div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    ${['Analysis', 'Status', 'Progress', 'Created', 'Duration'].map((c) => html`<th scope="col">${c}</th>`)}
                  </tr>
                </thead>
                <tbody>
                  ${recent.map(
                    (j) =>
                      html`<tr data-job=${j.id}>
                        <td><a href=${`#/result/${j.id}`} title=${j.id}>${j.analysis}</a></td>
                        <td><${StatusBadge} job=${j} /></td>
                        <td><${ProgressBar} job=${j} label=${`Progress of ${j.analysis} ${j.id.slice(0, 8)}`} /></td>
                        <td>${fmtTime(j.created_at)}</td>
                        <td class="num">${duration(j)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
          : null
      }
    </section>
  `;
}
