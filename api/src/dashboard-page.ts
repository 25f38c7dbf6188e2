/**
 * The HTML shell of the dashboard at `/`: a stylesheet, one module script and the links a
 * newcomer needs; everything else is drawn by the script (api/web/, bundled by dashboard-bundle.ts).
 *
 * The CSP allows scripts and styles from this origin only, so there is no inline script, no
 * event handler attribute and no style attribute here; what the script must know (how the
 * service takes keys, whether /events streams) travels in <meta> elements it reads. Every URL is
 * relative: behind a proxy that serves the API under a path prefix (`/api/`), `ui/app.js` still
 * resolves to `/api/ui/app.js`. The icon is an empty data: URI (the CSP allows data: images), so
 * a browser does not ask for a /favicon.ico that does not exist.
 */

/** Who needs the API key: nobody, writers (POST, DELETE), or every caller but the open routes. */
export type AuthMode = 'none' | 'writes' | 'reads';

export interface DashboardPage {
  title: string;
  auth: AuthMode;
  /** `sse` when GET /events streams job and dataset events; `poll` makes the page poll instead. */
  live: 'sse' | 'poll';
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export const LINKS = [
  { href: 'docs', label: 'API documentation', note: 'Swagger UI' },
  { href: 'openapi.json', label: 'OpenAPI document', note: 'for generating clients' },
  { href: 'help', label: 'Plain-text help', note: 'every route, and curl' },
  { href: 'metrics', label: 'Metrics', note: 'Prometheus text' },
] as const;

export function renderDashboardPage(page: DashboardPage): string {
  const title = escapeHtml(page.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="meteorites-auth" content="${page.auth}">
<meta name="meteorites-live" content="${page.live}">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="ui/app.css">
<script type="module" src="ui/app.js"></script>
</head>
<body>
<div id="app"><main><h1>${title}</h1>
<noscript><p>The dashboard needs JavaScript; the links below work without it.</p></noscript></main></div>
<footer class="links">
<ul>
${LINKS.map((l) => `  <li><a href="${l.href}">${l.label}</a> <span>(${l.note})</span></li>`).join('\n')}
</ul>
</footer>
</body>
</html>
`;
}
