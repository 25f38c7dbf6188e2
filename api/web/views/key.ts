/**
 * The API key, asked once per tab when the service takes keys. Where only writes need it, the
 * user may go on read-only; a 401 later forgets the key and asks again.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { apiKey, authMode, forgetApiKey, setApiKey } from '../api.ts';
import { useStore } from '../store.ts';

export function KeyPrompt() {
  const key = useStore(apiKey);
  const [value, setValue] = useState('');
  if (authMode === 'none' || key !== null) return null;
  const submit = (e: Event) => {
    e.preventDefault();
    if (value.trim()) setApiKey(value.trim());
  };
  return html`
    <section class="key-prompt" aria-labelledby="key-title">
      <h2 id="key-title">API key</h2>
      <p>
        ${
          authMode === 'reads'
            ? 'This service needs its API key for everything but this page.'
            : 'This service needs its API key to submit, cancel and load; reading is open.'
        }
        It is kept in this tab only, and sent as a Bearer token.
      </p>
      <form onSubmit=${submit}>
        <label for="api-key">Key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          value=${value}
          onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Use this key</button>
        ${authMode === 'writes' && html`<button type="button" onClick=${() => setApiKey('')}>Go on read-only</button>`}
      </form>
    </section>
  `;
}

export function KeyStatus() {
  const key = useStore(apiKey);
  if (authMode === 'none' || key === null) return null;
  return html`<span class="key-status">
    ${key ? 'key set' : 'read-only'} <button type="button" onClick=${forgetApiKey}>${key ? 'Forget key' : 'Enter key'}</button>
  </span>`;
}
