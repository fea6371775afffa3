// bench/node-floor.ts - not a tracker: what Node's own sockets cost, the ceiling of swarmd's fallback paths.
//
// Answers the bench's generators the way swarmd does when its addons are not used (`--udp-io dgram --http-io net`),
// on node:dgram and node:net, with the smallest replies the generators accept and no tracker work at all: no swarm,
// no peers, no parsing beyond finding the end of a request head. Over HTTP it keeps connections alive and, for a
// `Connection: close` request, writes the reply and closes the socket as swarmd's net path does. Whatever swarmd does
// on those paths costs this much and more, so this is how close to opentracker a tracker on them can come.
//
//   npm run bench -- --trackers opentracker,node-floor,swarmd-fallback --variant 'swarmd-fallback=--udp-io dgram
//   --http-io net' --protos udp,http,http-close --no-mem
//   node bench/node-floor.ts --host 127.0.0.1 --udp-port 27001 --http-port 27001

import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    'udp-port': { type: 'string', default: '6969' },
    'http-port': { type: 'string', default: '6969' },
  },
});
const host = opt.host;

// ---------------------------------------------------------------------------------------------------- UDP (BEP 15)
const CONNECT = 0;
const ANNOUNCE = 1;
const SCRAPE = 2;
const udp = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: host.includes(':') });
const out = Buffer.alloc(8 + 12 * 74);
udp.on('message', (msg, from) => {
  // A request is 16 bytes to connect, 98 to announce, 16 plus 20 per hash to scrape.
  if (msg.length < 16) return;
  const action = msg.readUInt32BE(8);
  out.writeUInt32BE(action, 0);
  msg.copy(out, 4, 12, 16); // transaction id
  let length = 8;
  if (action === CONNECT) {
    out.fill(7, 8, 16); // any connection id: it is never checked
    length = 16;
  } else if (action === ANNOUNCE) {
    out.writeUInt32BE(1800, 8); // interval; no leechers, no seeders, no peers
    out.fill(0, 12, 20);
    length = 20;
  } else if (action === SCRAPE) {
    length = 8 + 12 * Math.min(74, Math.floor((msg.length - 16) / 20));
    out.fill(0, 8, length);
  } else return;
  // send() keeps the buffer until the datagram is out: a copy, as swarmd's dgram path sends.
  udp.send(Buffer.from(out.subarray(0, length)), from.port, from.address);
});
udp.bind(Number(opt['udp-port']), host);

// ---------------------------------------------------------------------------------------------------- HTTP/1.1
const body = 'd8:intervali1800e5:peers0:e';
const reply = (close: boolean) =>
  Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
      `${close ? 'Connection: close\r\n' : ''}\r\n${body}`,
  );
const KEEP = reply(false);
const CLOSE = reply(true);
const http = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (chunk: Buffer) => {
    // The generators send one request at a time per connection, each in one segment.
    if (chunk.indexOf('\r\n\r\n') < 0) return;
    if (chunk.indexOf('Connection: close') < 0) {
      socket.write(KEEP);
      return;
    }
    socket.write(CLOSE);
    if (socket.writableLength === 0) socket.destroy();
    else socket.end();
  });
  socket.on('error', () => socket.destroy());
});
http.listen({ port: Number(opt['http-port']), host, ipv6Only: host.includes(':') });
