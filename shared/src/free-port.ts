/** A loopback TCP port nothing listens on right now: for a local redis-server, and for tests. */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's range for ports it picks itself (Linux's ip_local_port_range; IANA's elsewhere). */
export function ephemeralRange(setting = readRangeSetting()): [number, number] {
  const [low, high] = (setting ?? '').trim().split(/\s+/).map(Number);
  return Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low! ? [low!, high!] : [49152, 65535];
}

function readRangeSetting(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Ports below the kernel's range (or above it, when it starts low): a port from the range could
 * be taken as the source port of any connection this process or another opens between freePort
 * returning and the child binding it. Each process starts at a random place and walks on, so
 * processes asking at once seldom try the same port, and one process never hands out a port twice
 * in a row.
 */
const SPAN = 16_384;
/** Fewer ports than this outside the kernel's range: ask the kernel (port 0) after all. */
const MIN_SPAN = 1024;

/** The ports freePort walks for a kernel range: below it, else above it; none when neither has room. */
export function portBlock([low, high]: [number, number]): { first: number; span: number } | undefined {
  const below = Math.min(SPAN, low - 1024);
  if (below >= MIN_SPAN) return { first: low - below, span: below };
  const above = Math.min(SPAN, 65535 - high);
  return above >= MIN_SPAN ? { first: high + 1, span: above } : undefined;
}

const block = portBlock(ephemeralRange());
let next = block ? Math.floor(Math.random() * block.span) : 0;

export async function freePort(): Promise<number> {
  if (!block) return listenOn(0);
  for (let tries = 0; tries < block.span; tries++) {
    const port = await listenOn(block.first + (next++ % block.span)).catch(() => undefined);
    if (port !== undefined) return port;
  }
  throw new Error(`no free port in ${block.first}-${block.first + block.span - 1}`);
}

/** Binds the port (0: one the kernel picks) on loopback, lets it go, and tells which it was. */
async function listenOn(port: number): Promise<number> {
  const srv = createServer();
  srv.listen(port, '127.0.0.1');
  await once(srv, 'listening');
  const bound = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return bound;
}
