/**
 * One job, live: its status, progress bar and attempts move with the events (or the polls);
 * once it has finished, its result shows below without a reload.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { del, getJson } from '../api.ts';
import { useLive } from '../live.ts';
import { announce } from '../store.ts';
import { duration, ENDED, fmtTime, type Job } from '../types.ts';
import { ErrorNote, ProgressBar, StatusBadge } from './parts.ts';
import { ResultBody } from './result-body.ts';
import { withEvent } from '../logic.ts';

export function JobPanel({ initial, id }: { initial?: Job; id: string }) {
  const [job, setJob] = useState<Job | undefined>(initial);
  const [error, setError] = useState<unknown>();

  const refresh = async () => {
    try {
      const fresh = await getJson<Job>(`jobs/${id}`);
      setJob(fresh);
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    setJob(initial);
    void refresh();
  }, [id]);
  useEffect(() => {
    if (job && ENDED.includes(job.status)) announce(`Job ${job.analysis} ${job.status}`);
  }, [job?.status]);
  useLive({
    // An ended job changes no more: no reads for it.
    refresh: () => void (job && ENDED.includes(job.status) ? undefined : refresh()),
    jobRefresh: false,
    job: (e) => {
      if (e.id !== id) return;
      setJob((j) => j && withEvent(j, e));
      // The event says what changed; the job itself has the times and the error.
      if (e.type !== 'progress') void refresh();
    },
  });

  const cancel = async () => {
    try {
      const after = await del<Job>(`jobs/${id}`);
      setJob(after);
      announce(after.status === 'cancelled' ? 'Job cancelled' : 'Cancel requested');
    } catch (err) {
      setError(err);
    }
  };

  if (!job) return html`<${ErrorNote} error=${error} />${error ? null : html`<p>Loading…</p>`}`;
  const open = job.status === 'queued' || job.status === 'running';
  return html`
    <section class="job-panel" aria-labelledby="job-title" data-job=${job.id}>
      <h2 id="job-title">${job.analysis} <${StatusBadge} job=${job} /></h2>
      <${ProgressBar} job=${job} label=${`Progress of job ${job.analysis}`} />
      <dl class="inline">
        <dt>Job</dt>
        <dd><code>${job.id}</code></dd>
        <dt>Attempts</dt>
        <dd>${job.attempts}</dd>
        <dt>Created</dt>
        <dd>${fmtTime(job.created_at)}</dd>
        <dt>Duration</dt>
        <dd>${duration(job)}</dd>
        ${
          job.error &&
          html`<dt>Error</dt>
            <dd class="error">${job.error}</dd>`
        }
      </dl>
      ${open && html`<button type="button" onClick=${cancel} disabled=${job.cancel_requested}>Cancel job</button>`}
      <${ErrorNote} error=${error} />
    </section>
    ${job.status === 'finished' && html`<${ResultBody} job=${job} />`}
  `;
}
