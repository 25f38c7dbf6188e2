/**
 * The local relay every client of a process connects to when the Redis to use is found by asking
 * (Sentinel: the primary; Cluster: the master of the service's slot), and a small RESP query for
 * the asking.
 *
 * node-redis fixes a client's host and port when the client is made (its socket factory keeps
 * them), and every part of this service holds on to its client (the API's, a worker's command
 * and blocking connections, the subscriber) and reaches its internals (redis.ts: guardCommands,
 * openRawConnection). node-redis' own createSentinel() and createCluster() give other client
 * types (leases for blocking commands, another sendCommand, no raw socket) that none of that code
 * speaks. So every client of a process connects to a relay on 127.0.0.1 instead: for each new
 * connection it asks its Discovery where to go and pipes the bytes through, untouched (AUTH, TLS
 * and replication for backups pass as they are). When that server dies, the relay's connections
 * to it close, the clients reconnect as after any lost connection (their backoff, their command
 * timeouts, the worker's blocking-claim handling: all unchanged), and the relay asks again. A
 * server that is up but no longer the one to use answers READONLY, MOVED or CLUSTERDOWN, on
 * which redis/guard.ts closes the connection.
 */
import { connect as netConnect, createServer, isIP, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { ServiceError } from '../errors.ts';

export interface HostPort {
  host: string;
  port: number;
}

/** Where a relay sends a new connection. */
export interface Discovery {
  /** Same key, same relay: one per process and target. */
  readonly key: string;
  /** The server to connect to now; rejects when none can be named. */
  locate(): Promise<HostPort>;
  /** For error messages (no password). */
  describe(): string;
}

export function parseHostPorts(list: string): HostPort[] {
  return list.split(',').map((entry) => {
    const at = entry.lastIndexOf(':');
    return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
  });
}

/** An error reply to a query, or a reply the parser could not read. */
export class RespQueryError extends ServiceError {
  override name = 'RespQueryError';
  override readonly code = 'redis_query_failed';
}

/** One RESP2 reply from `buf`: [value, end] or undefined while incomplete. Enough for discovery answers. */
export function parseReply(buf: string, at = 0): [unknown, number] | undefined {
  const line = buf.indexOf('\r\n', at);
  if (line < 0) return undefined;
  const head = buf.slice(at + 1, line);
  const next = line + 2;
  switch (buf[at]) {
    case '+':
      return [head, next];
    case '-':
      return [new RespQueryError(head), next];
    case ':':
      return [Number(head), next];
    case '_':
      return [null, next];
    case '$': {
      const len = Number(head);
      if (len < 0) return [null, next];
      return buf.length >= next + len + 2 ? [buf.slice(next, next + len), next + len + 2] : undefined;
    }
    case '*': {
      const n = Number(head);
      if (n < 0) return [null, next];
      const items: unknown[] = [];
      let end = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, end);
        if (!item) return undefined;
        items.push(item[0]);
        end = item[1];
      }
      return [items, end];
    }
    default:
      return [new RespQueryError(`unexpected reply: ${JSON.stringify(buf.slice(at, at + 40))}`), buf.length];
  }
}

const encode = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

const QUERY_TIMEOUT_MS = 1000;

/**
 * Sends `commands` to one server on a fresh socket and gives every reply (error replies as
 * RespQueryError values, in place). Rejects when the server cannot be reached or does not answer
 * within a second. Bulk strings are read as UTF-8: enough for addresses and names.
 */
export async function query(server: HostPort, commands: string[][], tls = false): Promise<unknown[]> {
  const socket = tls
    ? tlsConnect({ host: server.host, port: server.port, servername: isIP(server.host) ? undefined : server.host })
    : netConnect({ host: server.host, port: server.port });
  socket.setTimeout(QUERY_TIMEOUT_MS, () => socket.destroy(new RespQueryError(`no answer within ${QUERY_TIMEOUT_MS} ms`)));
  try {
    await once(socket, tls ? 'secureConnect' : 'connect');
    socket.write(commands.map(encode).join(''));
    let buf = '';
    const replies: unknown[] = [];
    socket.setEncoding('utf8');
    for await (const chunk of socket) {
      buf += chunk as string;
      for (let parsed = parseReply(buf); parsed; parsed = parseReply(buf)) {
        replies.push(parsed[0]);
        buf = buf.slice(parsed[1]);
      }
      if (replies.length >= commands.length) break;
    }
    if (replies.length < commands.length) throw new RespQueryError('the connection closed before every reply came');
    return replies;
  } finally {
    socket.destroy();
  }
}

/** The local relay of one Discovery: every connection made to it is piped to the server it names. */
export class Relay {
  readonly #server: Server;
  readonly #pairs = new Set<Socket>();
  /** The server the last new connection went to (the name TLS certificates are checked against). */
  current: HostPort | undefined;

  private constructor(
    readonly discovery: Discovery,
    server: Server,
  ) {
    this.#server = server;
  }

  static async start(discovery: Discovery): Promise<Relay> {
    const server = createServer();
    const relay = new Relay(discovery, server);
    server.on('connection', (client) => relay.#pipe(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    // The relay lives as long as some client uses it: it alone keeps no process alive.
    server.unref();
    return relay;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  #pipe(client: Socket): void {
    client.pause();
    client.setNoDelay(true);
    this.#pairs.add(client);
    let upstream: Socket | undefined;
    const drop = () => {
      this.#pairs.delete(client);
      client.destroy();
      upstream?.destroy();
    };
    client.once('error', drop).once('close', drop);
    this.discovery.locate().then(
      (target) => {
        if (client.destroyed) return;
        this.current = target;
        upstream = netConnect({ host: target.host, port: target.port, noDelay: true, keepAlive: true });
        upstream.once('error', drop).once('close', drop);
        upstream.once('connect', () => {
          client.pipe(upstream!);
          upstream!.pipe(client);
          client.resume();
        });
      },
      // The client sees its connection close and retries with its backoff, asking again.
      () => drop(),
    );
  }

  async close(): Promise<void> {
    for (const client of this.#pairs) client.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const relays = new Map<string, Promise<Relay>>();

/** This process's relay for `discovery`, started on first use. */
export function relayFor(discovery: Discovery): Promise<Relay> {
  let relay = relays.get(discovery.key);
  if (!relay) {
    relay = Relay.start(discovery);
    relays.set(discovery.key, relay);
    relay.catch(() => relays.delete(discovery.key));
  }
  return relay;
}
