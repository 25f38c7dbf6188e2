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
const [ephemeralLow, ephemeralHigh] = ephemeralRange();
const first = ephemeralLow - SPAN >= 1024 ? ephemeralLow - SPAN : ephemeralHigh + 1;
const span = Math.min(SPAN, 65536 - first);
let next = Math.floor(Math.random() * span);

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < span; tries++) {
    const port = first + (next++ % span);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${first}-${first + span - 1}`);
}

async function canListen(port: number): Promise<boolean> {
  const srv = createServer();
  srv.listen(port, '127.0.0.1');
  try {
    await once(srv, 'listening');
  } catch {
    return false;
  }
  srv.close();
  await once(srv, 'close');
  return true;
}
