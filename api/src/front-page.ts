/**
 * The HTML page at `/`: what the service is, the dataset it holds, and where to go next.
 *
 * Rendered on the server, with no script at all, so the CSP (scripts from this origin only) has
 * nothing to refuse. Links are relative: behind a proxy that serves the API under a path prefix
 * (`/api/`), `docs` still leads to the prefixed `/api/docs`. The icon is an empty data: URI (the
 * CSP allows data: images), so a browser does not ask for a /favicon.ico that does not exist.
 */
import type { DatasetSummary } from '@meteorites/shared/schemas';

/** What the page says about the dataset: the summary, or why it is not shown. */
export type DatasetView = { summary: DatasetSummary } | { withheld: 'needs_key' | 'unavailable' };

export interface FrontPage {
  title: string;
  dataset: DatasetView;
  /** Names of the analyses POST /jobs offers. */
  analyses: readonly string[];
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export const LINKS = [
  { href: 'docs', label: 'API documentation', note: 'Swagger UI: every route, and a form to try each one' },
  { href: 'openapi.json', label: 'OpenAPI document', note: 'the same, as OpenAPI 3.1 JSON, for generating clients' },
  { href: 'help', label: 'Plain-text help', note: 'every route in one line each, and a worked example with curl' },
  { href: 'metrics', label: 'Metrics', note: 'Prometheus text: jobs, queue, workers, HTTP timings' },
] as const;

const STYLE = `
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
main { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.5rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
dt { color: #5b6570; }
dd { margin: 0; overflow-wrap: anywhere; }
li { margin: 0.4rem 0; }
a { color: #0b5cad; }
code { font-size: 0.95em; }`;

function datasetSection(view: DatasetView): string {
  if ('withheld' in view) {
    return view.withheld === 'needs_key'
      ? '<p>This deployment protects reads with an API key: ask <a href="data/summary"><code>data/summary</code></a> with <code>Authorization: Bearer &lt;key&gt;</code>.</p>'
      : '<p>The dataset summary is not available right now: Redis is not answering.</p>';
  }
  const s = view.summary;
  if (s.state === 'empty' && s.records === 0) {
    return '<p>No dataset is loaded. <code>POST data</code> with NASA\'s CSV or the course JSON loads one (see <a href="help">help</a>).</p>';
  }
  const rows: [string, string][] = [
    ['Records', s.records.toLocaleString('en-US')],
    ['Version', String(s.version)],
    ['State', s.state],
    ['Loaded at', s.loaded_at ?? '—'],
    ['Source', s.source ?? '—'],
  ];
  return `<dl>\n${rows.map(([k, v]) => `  <dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('\n')}\n</dl>`;
}

export function renderFrontPage(page: FrontPage): string {
  const analyses = page.analyses.map((a) => `<code>${escapeHtml(a)}</code>`).join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}
</style>
</head>
<body>
<main>
<h1>${escapeHtml(page.title)}</h1>
<p>This service holds NASA's Meteorite Landings dataset (every landing recorded by The Meteoritical Society: name,
class, mass, year, place) in Redis. Browse and filter it through <code>meteorites</code>, or run an analysis as a job:
<code>POST jobs</code> queues it, workers compute it, and the finished job gives a JSON result and a chart (SVG or PNG).
Analyses on offer: ${analyses}.</p>
<h2>Dataset</h2>
${datasetSection(page.dataset)}
<h2>Start here</h2>
<ul>
${LINKS.map((l) => `  <li><a href="${l.href}">${l.label}</a> (<code>${l.href}</code>): ${l.note}</li>`).join('\n')}
</ul>
</main>
</body>
</html>
`;
}
