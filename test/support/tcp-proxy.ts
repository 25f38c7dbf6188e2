/**
 * A TCP proxy on 127.0.0.1 between a client (a worker) and Redis, for network faults a test
 * injects for real: it reads the RESP streams both ways, so it can pair every reply with its
 * command and
 *   - swallow the reply to the next command that matches a pattern (Redis did the work, the client
 *     never hears of it), then cut that connection or leave it silent;
 *   - go silent: stop forwarding in both directions without closing anything, as a half-open
 *     connection does (a peer gone, a partition, a NAT that dropped its state);
 *   - resume: forward again what was held. A connection that lost a reply cannot go on (every later
 *     reply would answer the wrong command), so resume() cuts those instead.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export interface SwallowOptions {
  /** Tested against the command as text (its arguments joined by spaces); default: any command. */
  match?: RegExp;
  /** Tested against the reply as text (raw RESP): e.g. only a claim whose reply names a job. */
  reply?: RegExp;
  /** After the reply is swallowed: 'close' cuts the connection, 'silent' leaves it hanging (default). */
  then?: 'close' | 'silent';
}

export interface TcpProxy {
  /** redis://127.0.0.1:<port>, with the target's path and credentials. */
  url: string;
  port: number;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /** Arms a one-shot rule; resolves with the command's text once its reply was swallowed. */
  swallowReply(opts?: SwallowOptions): Promise<string>;
  /**
   * Stops forwarding on every connection without closing any: current and new ones, or with
   * `existingOnly` the current ones alone (they went half-open; a reconnect would work).
   */
  silence(opts?: { existingOnly?: boolean }): void;
  /** Forwards again (held bytes first); connections that lost a reply are cut. */
  resume(): void;
  /** Cuts every connection (the client sees a reset) and keeps listening. */
  cutAll(): void;
  /** New connections go to `targetUrl` from now on (a DNS name flipped to a new primary); open ones stay. */
  retarget(targetUrl: string): void;
  close(): Promise<void>;
}

/** Where the RESP value starting at `at` ends, or -1 while it is incomplete. */
function valueEnd(buf: Buffer, at: number): number {
  if (at >= buf.length) return -1;
  const line = buf.indexOf('\r\n', at);
  if (line < 0) return -1;
  const type = String.fromCharCode(buf[at]!);
  const head = buf.toString('latin1', at + 1, line);
  let end = line + 2;
  switch (type) {
    case '$':
    case '=':
    case '!': {
      const len = Number(head);
      if (len < 0) return end;
      end += len + 2;
      return end <= buf.length ? end : -1;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      const n = Number(head);
      const items = n < 0 ? 0 : type === '%' || type === '|' ? 2 * n : n;
      for (let i = 0; i < items; i++) {
        end = valueEnd(buf, end);
        if (end < 0) return -1;
      }
      // An attribute precedes the value it describes.
      return type === '|' ? valueEnd(buf, end) : end;
    }
    default:
      return end; // + - : _ , # ( : one line
  }
}

/** A command's arguments as text (for matching), from a complete RESP array of bulk strings. */
function commandText(buf: Buffer, at: number, end: number): string {
  const parts: string[] = [];
  let p = buf.indexOf('\r\n', at) + 2;
  while (p < end && buf[p] === 0x24 /* $ */) {
    const line = buf.indexOf('\r\n', p);
    const len = Number(buf.toString('latin1', p + 1, line));
    parts.push(buf.toString('utf8', line + 2, line + 2 + Math.min(len, 200)));
    p = line + 2 + len + 2;
  }
  return parts.join(' ');
}

interface Rule extends Required<SwallowOptions> {
  resolve: (command: string) => void;
}

class Link {
  /** Commands sent and not yet answered, oldest first. */
  readonly pending: string[] = [];
  fromClient = Buffer.alloc(0);
  fromServer = Buffer.alloc(0);
  readonly heldToServer: Buffer[] = [];
  readonly heldToClient: Buffer[] = [];
  broken = false;

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    readonly proxy: Proxy,
  ) {
    client.on('data', (d: Buffer) => this.#onClient(d));
    server.on('data', (d: Buffer) => this.#onServer(d));
    const end = () => this.destroy();
    for (const s of [client, server]) s.on('error', end).on('close', end);
  }

  /** Set by silence({ existingOnly }) on the links it found. */
  stalled = false;

  get silent(): boolean {
    return this.broken || this.stalled || this.proxy.silent;
  }

  #onClient(d: Buffer): void {
    this.fromClient = Buffer.concat([this.fromClient, d]);
    let at = 0;
    for (;;) {
      const end = valueEnd(this.fromClient, at);
      if (end < 0) break;
      this.pending.push(commandText(this.fromClient, at, end));
      at = end;
    }
    this.fromClient = this.fromClient.subarray(at);
    if (this.silent) this.heldToServer.push(d);
    else this.server.write(d);
  }

  #onServer(d: Buffer): void {
    this.fromServer = Buffer.concat([this.fromServer, d]);
    let at = 0;
    const out: Buffer[] = [];
    for (;;) {
      const end = valueEnd(this.fromServer, at);
      if (end < 0) break;
      const isPush = this.fromServer[at] === 0x3e; /* > */
      const command = isPush ? undefined : this.pending.shift();
      const rule =
        command === undefined || this.broken ? undefined : this.proxy.ruleFor(command, this.fromServer.toString('latin1', at, end));
      if (rule) {
        this.broken = true;
        rule.resolve(command!);
        if (rule.then === 'close') {
          // Replies before it still arrive; then the client sees the connection end.
          if (out.length > 0) this.client.write(Buffer.concat(out));
          this.client.end();
          this.server.destroy();
          this.proxy.links.delete(this);
          return;
        }
      } else if (!this.broken) {
        out.push(this.fromServer.subarray(at, end));
      }
      at = end;
    }
    this.fromServer = this.fromServer.subarray(at);
    this.flush(out);
  }

  flush(out: Buffer[]): void {
    if (out.length === 0) return;
    const data = Buffer.concat(out);
    if (this.silent && !this.broken) this.heldToClient.push(data);
    else if (!this.broken) this.client.write(data);
  }

  resume(): void {
    this.stalled = false;
    if (this.broken) return this.destroy();
    for (const d of this.heldToServer.splice(0)) this.server.write(d);
    for (const d of this.heldToClient.splice(0)) this.client.write(d);
  }

  destroy(): void {
    this.client.destroy();
    this.server.destroy();
    this.proxy.links.delete(this);
  }
}

class Proxy {
  readonly links = new Set<Link>();
  readonly rules: Rule[] = [];
  silent = false;

  ruleFor(command: string, reply: string): Rule | undefined {
    const i = this.rules.findIndex((r) => r.match.test(command) && r.reply.test(reply));
    return i < 0 ? undefined : this.rules.splice(i, 1)[0];
  }
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  let target = new URL(targetUrl);
  const state = new Proxy();
  const server: Server = createServer((client) => {
    client.pause();
    const upstream = connect({ host: target.hostname, port: Number(target.port || 6379) });
    upstream.once('connect', () => {
      state.links.add(new Link(client, upstream, state));
      client.resume();
    });
    upstream.once('error', () => client.destroy());
    client.once('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString().replace(/\/$/, ''),
    port,
    get connections() {
      return state.links.size;
    },
    swallowReply(opts = {}) {
      return new Promise<string>((resolve) =>
        state.rules.push({ match: opts.match ?? /[\s\S]*/, reply: opts.reply ?? /[\s\S]*/, then: opts.then ?? 'silent', resolve }),
      );
    },
    silence(opts = {}) {
      if (opts.existingOnly) for (const link of state.links) link.stalled = true;
      else state.silent = true;
    },
    resume() {
      state.silent = false;
      for (const link of [...state.links]) link.resume();
    },
    cutAll() {
      for (const link of [...state.links]) link.destroy();
    },
    retarget(to) {
      target = new URL(to);
    },
    async close() {
      for (const link of [...state.links]) link.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
