/**
 * A Server-Sent Events client for tests and benchmarks, on node:http (one socket per stream, as
 * a browser's EventSource to a server without HTTP/2 would hold): the messages as parsed, the
 * comment lines, when each message arrived, and the end of the response.
 */
import { request, type IncomingMessage } from 'node:http';

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
  /** performance.timeOrigin + performance.now() when its last line arrived (ms since the epoch). */
  receivedAt: number;
}

export interface SseStream {
  status: number;
  headers: IncomingMessage['headers'];
  messages: SseMessage[];
  comments: string[];
  /** The body of a response that is not an event stream (an error). */
  body(): string;
  /** Resolves when the server ends the response (or the socket closes). */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Resolves with the first message (already received ones count) the predicate accepts. */
  waitFor(predicate: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  /** Polls until `check` holds. */
  until(check: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

export interface OpenOptions {
  headers?: Record<string, string>;
  /** The local address to connect from (any 127.x.y.z on Linux): another client, as the server sees it. */
  localAddress?: string;
}

const now = () => performance.timeOrigin + performance.now();

/** Opens `url` and resolves once the response head arrived. */
export function openSse(url: string, opts: OpenOptions = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...opts.headers }, localAddress: opts.localAddress, agent: false });
    req.once('error', reject);
    req.once('response', (res) => {
      res.setEncoding('utf8');
      const messages: SseMessage[] = [];
      const comments: string[] = [];
      const listeners = new Set<() => void>();
      let raw = '';
      let buffer = '';
      let ended = false;
      const isStream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
      res.on('data', (chunk: string) => {
        if (!isStream) {
          raw += chunk;
          return;
        }
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const m: SseMessage = { event: 'message', data: '', receivedAt: now() };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) m.id = line.slice(4);
            else if (line.startsWith('event: ')) m.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              m.data += (hasData ? '\n' : '') + line.slice(6);
              hasData = true;
            }
          }
          if (hasData) messages.push(m);
        }
        for (const l of listeners) l();
      });
      const done = new Promise<void>((r) => {
        const finish = () => {
          ended = true;
          for (const l of listeners) l();
          r();
        };
        res.once('end', finish);
        res.once('close', finish);
        res.once('error', finish);
      });
      const until = (check: () => boolean, what: string, timeoutMs = 30_000) =>
        new Promise<void>((ok, fail) => {
          if (check()) return ok();
          const timer = setTimeout(() => {
            listeners.delete(test);
            fail(new Error(`${url}: ${what} not within ${timeoutMs} ms (${messages.length} messages, ended: ${ended})`));
          }, timeoutMs);
          const test = () => {
            if (!check()) return;
            clearTimeout(timer);
            listeners.delete(test);
            ok();
          };
          listeners.add(test);
        });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        messages,
        comments,
        body: () => raw,
        ended: done,
        isEnded: () => ended,
        waitFor: async (predicate, timeoutMs) => {
          await until(() => messages.some(predicate), 'the awaited message', timeoutMs);
          return messages.find(predicate)!;
        },
        until,
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}

/** The JSON data of each message, with its id and event. */
export function parsed(messages: readonly SseMessage[]): { id?: string; event: string; data: Record<string, unknown> }[] {
  return messages.map((m) => ({ id: m.id, event: m.event, data: JSON.parse(m.data) as Record<string, unknown> }));
}
