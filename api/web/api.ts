/**
 * Every request the dashboard makes: relative URLs (the page may sit under a proxy's path
 * prefix), JSON errors turned into ApiError, and the API key, when one was given, as a Bearer
 * token. The key lives in sessionStorage: asked once per tab, gone when the tab closes.
 */
import { Store } from './store.ts';

const KEY_ITEM = 'meteorites.api-key';

export type AuthMode = 'none' | 'writes' | 'reads';

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';

export const authMode = (meta('meteorites-auth') || 'none') as AuthMode;
export const liveMode = meta('meteorites-live') === 'sse' ? 'sse' : 'poll';

/** The key, `''` when the user chose to go on read-only, null when not asked yet. */
export const apiKey = new Store<string | null>(sessionStorage.getItem(KEY_ITEM));

export function setApiKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
  apiKey.set(key);
}

export function forgetApiKey(): void {
  sessionStorage.removeItem(KEY_ITEM);
  apiKey.set(null);
}

/** An answer other than 2xx, with the service's error envelope when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function failure(res: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `${res.status} ${res.statusText}`;
  let details: Record<string, unknown> = {};
  try {
    const body = (await res.json()) as { error?: { code: string; message: string } & Record<string, unknown> };
    if (body.error) ({ code, message, ...details } = body.error);
  } catch {
    // not JSON: the status line says it
  }
  // A wrong key, or none where one is needed (read-only, then a write): ask for it again.
  if (res.status === 401) forgetApiKey();
  return new ApiError(res.status, code, message, details);
}

/** A request; the answer as the Response, after checking its status. */
export async function send(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, { ...init, headers: { accept: 'application/json', ...authHeaders(), ...(init.headers as object) } });
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await send(path)).json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await send(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

export async function del<T>(path: string): Promise<T> {
  return (await (await send(path, { method: 'DELETE' })).json()) as T;
}

/** Saves what `path` answers as a file named `name` (fetched with the key, so it works when reads need one). */
export async function download(path: string, name: string): Promise<void> {
  const blob = await (await send(path, { headers: { accept: '*/*' } })).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * POSTs a file with upload progress (fetch reports none, XMLHttpRequest does): `onProgress`
 * gets the share sent, 0..1. Resolves with the JSON answer, rejects with ApiError.
 */
export function upload<T>(path: string, file: File, contentType: string, onProgress: (sent: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('content-type', contentType);
    xhr.setRequestHeader('accept', 'application/json');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload broke off (network error)'));
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body as T);
      if (xhr.status === 401) forgetApiKey();
      const err = (body as { error?: { code: string; message: string } } | undefined)?.error;
      reject(new ApiError(xhr.status, err?.code ?? 'http_error', err?.message ?? `${xhr.status} ${xhr.statusText}`));
    };
    xhr.send(file);
  });
}
