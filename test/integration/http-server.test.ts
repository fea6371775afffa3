// The node:net HTTP server (`--http-io net`, and every HTTPS port) in-process, where its sockets can be looked at.

import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { HttpServer } from '../../src/net/http-server.ts';
import { createFixture } from '../fuzz/tracker.ts';
import { freePort } from '../helpers/ports.ts';
import { openConnection } from '../helpers/swarmd.ts';

const EVENTS = ['data', 'drain', 'error', 'close', 'end', 'finish', 'prefinish', 'readable'] as const;

// A listener that encloses its connection keeps that connection's objects alive for as long as the socket is kept;
// under a connection per request V8 can come to keep closed sockets until its next full collection
// (docs/benchmarks.md, "Closed connections' listeners"). So a closed socket must hold only shared listeners, none
// made for its connection. Three ways to end: the server closes after `Connection: close`, the client ends a
// keep-alive connection, the client resets one.
test('a closed connection keeps no listener made for it, however it ended', async () => {
  const fixture = createFixture();
  const server = new HttpServer(fixture.http, pino({ level: 'silent' }), {
    maxHeadBytes: 8192,
    headTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    handshakeTimeoutMs: 10_000,
    maxConnections: 0,
  });
  const port = await freePort();
  await server.listen(port, '127.0.0.1');
  const accepted: net.Socket[] = [];
  // Added after the server's own listener, so it sees each socket once the server has set it up.
  server.server.on('connection', (socket: net.Socket) => accepted.push(socket));
  try {
    const request = (close: boolean) =>
      `GET /scrape?info_hash=${'%11'.repeat(20)} HTTP/1.1\r\nHost: t\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
    const endings: ((client: net.Socket) => void)[] = [
      (client) => client.write(request(true)),
      (client) => client.once('data', () => client.end()).write(request(false)),
      (client) => client.once('data', () => client.resetAndDestroy()).write(request(false)),
    ];
    const closed: net.Socket[] = [];
    for (const end of endings) {
      const client = await openConnection('127.0.0.1', port);
      client.on('error', () => {});
      while (accepted.length === closed.length) await new Promise((resolve) => setImmediate(resolve));
      const socket = accepted[closed.length];
      assert.ok(socket.listenerCount('data') > 0, 'the server reads the connection');
      const made = EVENTS.flatMap((event) => socket.listeners(event));
      const socketClosed = new Promise((resolve) => socket.once('close', resolve));
      end(client);
      await socketClosed;
      closed.push(socket);
      // The server's own listeners are gone.
      for (const event of ['data', 'drain', 'close']) assert.equal(socket.listenerCount(event), 0, `'${event}'`);
      assert.ok(EVENTS.flatMap((event) => socket.listeners(event)).length < made.length);
    }
    // What is left on each is shared: the same function is on a socket that ended another way.
    for (const [i, socket] of closed.entries()) {
      const others = closed.filter((_, j) => j !== i);
      for (const event of EVENTS) {
        for (const listener of socket.listeners(event)) {
          assert.ok(
            others.some((other) => other.listeners(event).includes(listener)),
            `ending ${i}: a '${event}' listener of its own`,
          );
        }
      }
    }
  } finally {
    await server.close();
  }
});
