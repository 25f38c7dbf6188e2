/**
 * Redis Sentinel: the primary's address comes from the Sentinels, asked again for every new
 * connection, so a connection opened after a failover reaches the new primary.
 *
 * node-redis fixes a client's host and port when the client is made (its socket factory keeps
 * them), and every part of this service holds on to its client (the API's, a worker's command
 * and blocking connections, the subscriber) and reaches its internals (redis.ts: guardCommands,
 * openRawConnection). node-redis' own createSentinel() gives a different client type (leases for
 * blocking commands, another sendCommand) that none of that code speaks. So every client of a
 * process connects to a small local relay instead (one per process, on 127.0.0.1): it asks the
 * Sentinels for the primary and pipes the bytes through, untouched (AUTH, TLS and replication for
 * backups pass as they are). When the primary dies, the relay's connections to it close, the
 * clients reconnect as after any lost connection (their backoff, their command timeouts, the
 * worker's blocking-claim handling: all unchanged), and the relay asks the Sentinels again. A
 * demoted primary still up (a partition) answers READONLY, on which redis.ts closes the
 * connection; Sentinel itself also closes every client of a primary it demotes.
 */
import { ServiceError } from './errors.ts';
import { connect as netConnect, createServer, isIP, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import type { Config } from './config.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface SentinelTarget {
  sentinels: HostPort[];
  master: string;
  /** The Sentinels' own password (not the primary's: that one travels in REDIS_URL). */
  password?: string;
  /** Talk TLS to the Sentinels (REDIS_URL is rediss://). */
  tls?: boolean;
}

export class SentinelError extends ServiceError {
  override name = 'SentinelError';
  override readonly code = 'sentinel_unavailable';
}

/** The Sentinel settings of `config`, or undefined when it names a plain REDIS_URL. */
export function sentinelOf(
  config: Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_URL'>,
): SentinelTarget | undefined {
  if (!config.REDIS_SENTINELS || !config.REDIS_SENTINEL_MASTER) return undefined;
  return {
    sentinels: parseHostPorts(config.REDIS_SENTINELS),
    master: config.REDIS_SENTINEL_MASTER,
    password: config.REDIS_SENTINEL_PASSWORD,
    tls: config.REDIS_URL?.startsWith('rediss:') ?? false,
  };
}

export function parseHostPorts(list: string): HostPort[] {
  return list.split(',').map((entry) => {
    const at = entry.lastIndexOf(':');
    return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
  });
}

const QUERY_TIMEOUT_MS = 1000;

/** One RESP reply from `buf`: [value, end] or undefined while incomplete. Enough for Sentinel's answers. */
function parseReply(buf: string, at = 0): [unknown, number] | undefined {
  const line = buf.indexOf('\r\n', at);
  if (line < 0) return undefined;
  const head = buf.slice(at + 1, line);
  const next = line + 2;
  switch (buf[at]) {
    case '+':
      return [head, next];
    case '-':
      return [new SentinelError(head), next];
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
      return [new SentinelError(`unexpected reply from a Sentinel: ${JSON.stringify(buf.slice(at, at + 40))}`), buf.length];
  }
}

const encode = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** The primary one Sentinel names for `target.master`; rejects when it cannot say. */
async function askOne(sentinel: HostPort, target: SentinelTarget): Promise<HostPort> {
  const socket = target.tls
    ? tlsConnect({ host: sentinel.host, port: sentinel.port, servername: isIP(sentinel.host) ? undefined : sentinel.host })
    : netConnect({ host: sentinel.host, port: sentinel.port });
  socket.setTimeout(QUERY_TIMEOUT_MS, () => socket.destroy(new SentinelError(`no answer within ${QUERY_TIMEOUT_MS} ms`)));
  try {
    const commands = [...(target.password ? [['AUTH', target.password]] : []), ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', target.master]];
    await once(socket, target.tls ? 'secureConnect' : 'connect');
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
    const failed = replies.find((r) => r instanceof Error);
    if (failed) throw failed;
    const addr = replies.at(-1);
    if (!Array.isArray(addr) || addr.length !== 2) throw new SentinelError(`does not know a primary named '${target.master}'`);
    return { host: String(addr[0]), port: Number(addr[1]) };
  } finally {
    socket.destroy();
  }
}

/** Asks the Sentinels in turn; the first that names the primary answers, and is asked first next time. */
export async function askSentinels(target: SentinelTarget): Promise<HostPort> {
  const failures: string[] = [];
  for (const sentinel of [...target.sentinels]) {
    try {
      const primary = await askOne(sentinel, target);
      target.sentinels.splice(target.sentinels.indexOf(sentinel), 1);
      target.sentinels.unshift(sentinel);
      return primary;
    } catch (err) {
      failures.push(`${sentinel.host}:${sentinel.port}: ${(err as Error).message}`);
    }
  }
  throw new SentinelError(`no Sentinel named the primary '${target.master}' (${failures.join('; ')})`);
}

/** The local relay of one Sentinel target: every connection made to it is piped to the current primary. */
export class SentinelRelay {
  readonly #server: Server;
  readonly #pairs = new Set<Socket>();
  /** The primary the last new connection went to (the name TLS certificates are checked against). */
  primary: HostPort | undefined;

  private constructor(
    readonly target: SentinelTarget,
    server: Server,
  ) {
    this.#server = server;
  }

  static async start(target: SentinelTarget): Promise<SentinelRelay> {
    const server = createServer();
    const relay = new SentinelRelay(target, server);
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
    askSentinels(this.target).then(
      (primary) => {
        if (client.destroyed) return;
        this.primary = primary;
        upstream = netConnect({ host: primary.host, port: primary.port, noDelay: true, keepAlive: true });
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

const relays = new Map<string, Promise<SentinelRelay>>();

/** This process's relay for `target`, started on first use. */
export function relayFor(target: SentinelTarget): Promise<SentinelRelay> {
  const key = JSON.stringify([target.sentinels, target.master, target.password ?? '', target.tls ?? false]);
  let relay = relays.get(key);
  if (!relay) {
    relay = SentinelRelay.start(target);
    relays.set(key, relay);
    relay.catch(() => relays.delete(key));
  }
  return relay;
}
