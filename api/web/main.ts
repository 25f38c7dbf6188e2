/**
 * The dashboard: a header with the views, the key prompt when the service takes keys, and the
 * view the URL's hash names (`#/jobs`, `#/result/<id>`...). Hash routes keep every request
 * relative to the page, so the page works under any path prefix, and survive a reload.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { announcement, useStore } from './store.ts';
import { liveState, startLive } from './live.ts';
import { apiKey, authMode } from './api.ts';
import { KeyPrompt, KeyStatus } from './views/key.ts';
import { Overview } from './views/overview.ts';
import { Ask } from './views/ask.ts';
import { Jobs } from './views/jobs.ts';
import { ResultView } from './views/result.ts';
import { DataView, LandingView } from './views/data.ts';

const VIEWS = [
  { path: 'overview', label: 'Overview' },
  { path: 'ask', label: 'Ask' },
  { path: 'jobs', label: 'Jobs' },
  { path: 'data', label: 'Data' },
];

interface Route {
  view: string;
  arg: string;
  query: URLSearchParams;
}

function parseHash(): Route {
  const [path = '', search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [view = 'overview', ...rest] = path.split('/');
  return { view: view || 'overview', arg: decodeURIComponent(rest.join('/')), query: new URLSearchParams(search) };
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'ask':
      return html`<${Ask} analysis=${route.arg} preset=${route.query.get('params')} />`;
    case 'jobs':
      return html`<${Jobs} />`;
    case 'result':
      return html`<${ResultView} id=${route.arg} />`;
    case 'data':
      return html`<${DataView} />`;
    case 'landing':
      return html`<${LandingView} id=${route.arg} />`;
    default:
      return html`<${Overview} />`;
  }
}

function App() {
  const [route, setRoute] = useState(parseHash);
  const said = useStore(announcement);
  const live = useStore(liveState);
  const key = useStore(apiKey);
  useEffect(() => {
    const onHash = () => {
      setRoute(parseHash());
      // A new view: focus its heading, so keyboard and screen reader users start there.
      requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const current = route.view === 'result' || route.view === 'landing' ? (route.view === 'result' ? 'jobs' : 'data') : route.view;
  return html`
    <header class="top">
      <a class="brand" href="#/overview">Meteorite analysis</a>
      <nav aria-label="Views">
        <ul>
          ${VIEWS.map(
            (v) => html`<li><a href=${`#/${v.path}`} aria-current=${current === v.path ? 'page' : undefined}>${v.label}</a></li>`,
          )}
        </ul>
      </nav>
      <span class="live" title="How this page hears of changes">${live === 'streaming' ? 'live' : live}</span>
      <${KeyStatus} />
    </header>
    <${KeyPrompt} />
    <main id="main">
      ${
        authMode === 'reads' && !key
          ? html`<h1 tabindex="-1">Meteorite analysis</h1>
              <p>Everything here needs the service's API key: enter it above.</p>`
          : html`<${View} route=${route} />`
      }
    </main>
    <div class="sr-status" role="status" aria-live="polite">${said}</div>
  `;
}

startLive();
const root = document.getElementById('app')!;
root.replaceChildren();
render(html`<${App} />`, root);
