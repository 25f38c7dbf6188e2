import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralRange, freePort, portBlock } from './free-port.ts';

describe('freePort', () => {
  it('never returns a port the kernel may give an outgoing connection', async () => {
    // A port from the ephemeral range can be taken as the source port of any connection the
    // tests open (to Redis, a Sentinel, fetch) between freePort returning and the child binding
    // it: that is how an API in the Sentinel test exited with EADDRINUSE.
    const [low, high] = ephemeralRange();
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    for (const port of ports) expect(port < low || port > high, `${port} in ${low}-${high}`).toBe(true);
    expect(new Set(ports).size, 'ports handed out at once are distinct').toBe(ports.length);
  });

  it('returns a port that can be bound, and skips one that is taken', async () => {
    const port = await freePort();
    const held = createServer().listen(port, '127.0.0.1');
    await once(held, 'listening');
    try {
      const next = await freePort();
      expect(next).not.toBe(port);
    } finally {
      held.close();
      await once(held, 'close');
    }
  });
});

describe('ephemeralRange', () => {
  it('reads the kernel setting, or falls back to the IANA range', () => {
    expect(ephemeralRange('32768\t60999\n')).toEqual([32768, 60999]);
    expect(ephemeralRange('garbage')).toEqual([49152, 65535]);
    expect(ephemeralRange('')).toEqual([49152, 65535]);
  });
});

describe('portBlock', () => {
  it('is the ports below the kernel range, else above it, else none (the kernel then picks)', () => {
    expect(portBlock([32768, 60999])).toEqual({ first: 16384, span: 16384 });
    expect(portBlock([49152, 65535])).toEqual({ first: 32768, span: 16384 });
    expect(portBlock([10000, 40000])).toEqual({ first: 1024, span: 8976 });
    expect(portBlock([1024, 50000])).toEqual({ first: 50001, span: 15535 });
    // A kernel range over every unprivileged port leaves no block: freePort must not give up.
    expect(portBlock([1024, 65535])).toBeUndefined();
  });
});
