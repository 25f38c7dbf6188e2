/** Small pieces every view uses: an error note, a job's status and its progress bar. */
import { html } from 'htm/preact';
import { ApiError } from '../api.ts';
import type { Job } from '../types.ts';

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'The service needs its API key for this (see the key prompt above).';
    return `${error.message} (${error.status ? `${error.status}, ` : ''}${error.code})`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return html`<p class="error" role="alert">${describeError(error)}</p>`;
}

export function StatusBadge({ job }: { job: Pick<Job, 'status' | 'cancel_requested'> }) {
  const label = job.cancel_requested && job.status === 'running' ? 'cancelling' : job.status;
  return html`<span class=${`status status-${job.status}`} data-status=${job.status}>${label}</span>`;
}

/** A native <progress>: announced by screen readers with its label, and drawn without style attributes. */
export function ProgressBar({ job, label }: { job: Pick<Job, 'progress' | 'status'>; label: string }) {
  const pct = Math.round(job.progress * 100);
  return html`<span class="progress">
    <progress max="100" value=${pct} aria-label=${label}>${pct} %</progress>
    <span class="pct" aria-hidden="true">${pct} %</span>
  </span>`;
}
