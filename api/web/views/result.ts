/** Result: one job by its id (`#/result/<id>`), live until it ends, then its result. */
import { html } from 'htm/preact';
import { JobPanel } from './job-panel.ts';

export function ResultView({ id }: { id: string }) {
  return html`
    <h1 tabindex="-1">Job and result</h1>
    <p><a href="#/jobs">All jobs</a></p>
    <${JobPanel} key=${id} id=${id} />
  `;
}
