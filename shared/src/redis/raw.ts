/** Plain sockets to the Redis a client talks to, for the protocols node-redis does not speak. */
import { once } from 'node:events';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Redis } from '../redis.ts';

interface SocketOptions extends ConnectionOptions {
  host?: string;
  port?: number;
  path?: string;
  tls?: boolean;
  connectTimeout?: number;
}

export interface RawConnection {
  socket: Socket;
  /** The commands to send first: AUTH and SELECT, as the client's URL asks. */
  handshake: string[][];
}

/**
 * A plain socket to the Redis `client` talks to (same host, TLS settings, user, password and
 * database), for protocols the client does not speak: bulk pipelines, replication (backups).
 */
export async function openRawConnection(client: Redis): Promise<RawConnection> {
  const o = client.options as { socket?: SocketOptions; username?: string; password?: string; database?: number } | undefined;
  const s: SocketOptions = o?.socket ?? {};
  const target = s.path ? { path: s.path } : { host: s.host ?? '127.0.0.1', port: s.port ?? 6379 };
  // An IP address is not a valid TLS server name (SNI); the certificate is still checked against it.
  const servername = s.servername ?? (s.host && !isIP(s.host) ? s.host : undefined);
  const socket = s.tls
    ? tlsConnect({
        ...target,
        servername,
        ca: s.ca,
        cert: s.cert,
        key: s.key,
        rejectUnauthorized: s.rejectUnauthorized,
        // Only when set: an explicit undefined would replace tls' own check (and Node asserts on it).
        ...(s.checkServerIdentity ? { checkServerIdentity: s.checkServerIdentity } : {}),
      })
    : netConnect(target);
  const timeoutMs = s.connectTimeout ?? 5000;
  const timeout = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
  try {
    await once(socket, s.tls ? 'secureConnect' : 'connect');
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timeout);
  }
  const handshake: string[][] = [];
  if (o?.password) handshake.push(o.username ? ['AUTH', o.username, o.password] : ['AUTH', o.password]);
  if (o?.database) handshake.push(['SELECT', String(o.database)]);
  return { socket, handshake };
}
