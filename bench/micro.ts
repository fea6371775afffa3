// bench/micro.ts - `npm run bench:micro`: the JavaScript half of the hot path, in-process, without sockets.
//
// `npm run bench` measures whole trackers over loopback, where the kernel's share and the machine's drift (±25 %
// between runs) hide changes of a few per cent in swarmd's own code. This times only that code, on the shared
// bench's workload (100,000 torrents with Zipf 1.0 popularity, 200,000 peers, numwant 50, 90 % announces and 10 %
// scrapes of 1-10 hashes, 2 % stopped and 2 % completed; HTTP requests written as http_load.lua writes them, UDP
// ones as udp_load.c does): the native HTTP path's batch answerer (HttpBatch, 64 connections per call, exactly what
// the addon calls) and the UDP handler, one worker, swarmd's defaults as the bench runs it.
// Every reply is checked (status, peer count) so that a broken path cannot look fast.
//
//   npm run bench:micro                          both protocols, 7 rounds of 200,000 requests each
//   npm run bench:micro -- --protos http --rounds 15
//   npm run bench:micro -- --protos http --rounds 0   the set-up alone, to subtract from perf stat counts of a run
//   npm run bench:micro -- --family ipv6               requests from ::1, as the bench's IPv6 cases send them
//
// Prints ns per request (median and min of the rounds) and what one core would answer at that cost.

import { parseArgs } from 'node:util';
import { createTracker, httpOptionsOf } from '../src/cli/serve.ts';
import { DEFAULT_CONFIG } from '../src/config/config.ts';
import { createLogger } from '../src/log.ts';
import { HttpHandler } from '../src/net/http-handler.ts';
import { HttpBatch } from '../src/net/native-http-server.ts';
import { UdpHandler } from '../src/net/udp-handler.ts';
import { Counters } from '../src/stats/counters.ts';
import { FAMILY_V4, FAMILY_V6 } from '../src/swarm/store.ts';
import { Clock } from '../src/tracker/clock.ts';
import { ConnectionIds } from '../src/tracker/connection-id.ts';
import { FullScrape } from '../src/tracker/full-scrape.ts';

const { values: opts } = parseArgs({
  options: {
    protos: { type: 'string', default: 'http,udp' },
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '200000' },
    torrents: { type: 'string', default: '100000' },
    peers: { type: 'string', default: '200000' },
    family: { type: 'string', default: 'ipv4' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(
    'npm run bench:micro -- [--protos http,udp] [--family ipv4|ipv6] [--rounds 7] [--requests 200000] [--torrents N] [--peers N]',
  );
  process.exit(0);
}
if (opts.family !== 'ipv4' && opts.family !== 'ipv6') throw new Error(`--family: ipv4 or ipv6, not ${opts.family}`);
/** The bench's IPv6 cases send every request from ::1; its IPv4 UDP ones from 16 loopback addresses. */
const FAMILY = opts.family === 'ipv4' ? FAMILY_V4 : FAMILY_V6;
const ENDPOINT_SIZE = FAMILY === FAMILY_V4 ? 6 : 18;
const LOOPBACK_V6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const ROUNDS = Number(opts.rounds);
const REQUESTS = Number(opts.requests);
const TORRENTS = Number(opts.torrents);
const PEERS = Number(opts.peers);
const BATCH = 64;

/** A seeded generator, so that every run draws the same workload (mulberry32). */
let seed = 1;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const hashes = Array.from({ length: TORRENTS }, () =>
  Buffer.from(Array.from({ length: 20 }, () => (random() * 256) | 0)),
);
const cdf = new Float64Array(TORRENTS);
for (let k = 0, total = 0; k < TORRENTS; k++) cdf[k] = total += 1 / (k + 1);
function zipf(): number {
  const u = random() * cdf[TORRENTS - 1];
  let lo = 0;
  let hi = TORRENTS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
const torrentOf = Int32Array.from({ length: PEERS }, zipf);
const isSeeder = (i: number) => ((i * 2654435761) % 4294967296) / 4294967296 < 0.25;

/** What a request does: the generators' mix. */
interface Step {
  peer: number;
  /** '' (re-announce), started, completed, stopped; or scrape with these torrents. */
  event: string;
  scrape: number[] | null;
}

/** The mix after a prefill: present peers re-announce (2 % stop, 2 % of leechers complete), absent ones start. */
function mix(count: number): Step[] {
  const present = new Uint8Array(PEERS).fill(1);
  const steps: Step[] = [];
  for (let k = 0; k < count; k++) {
    if (random() < 0.1) {
      const n = 1 + Math.floor(random() * 10);
      const set = new Set<number>();
      for (let t = 0; set.size < n && t < n * 8; t++) set.add(zipf());
      steps.push({ peer: 0, event: '', scrape: [...set] });
      continue;
    }
    const peer = Math.floor(random() * PEERS);
    const roll = random();
    let event = '';
    if (!present[peer]) event = 'started';
    else if (roll < 0.02) event = 'stopped';
    else if (roll < 0.04 && !isSeeder(peer)) event = 'completed';
    present[peer] = event === 'stopped' ? 0 : 1;
    steps.push({ peer, event, scrape: null });
  }
  return steps;
}

function percentEncode(hash: Buffer): string {
  let out = '';
  for (const b of hash) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9.\-_~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function httpRequest(step: Step): Buffer {
  const host = FAMILY === FAMILY_V4 ? '127.0.0.1' : '[::1]';
  const tail = ` HTTP/1.1\r\nHost: ${host}:27001\r\nUser-Agent: http_load\r\n\r\n`;
  if (step.scrape !== null) {
    return Buffer.from(
      `GET /scrape?${step.scrape.map((t) => `info_hash=${percentEncode(hashes[t])}`).join('&')}${tail}`,
    );
  }
  const i = step.peer;
  const seeder = isSeeder(i) || step.event === 'completed';
  const left = seeder ? 0 : 1 + Math.floor(random() * 4e9);
  return Buffer.from(
    `GET /announce?info_hash=${percentEncode(hashes[torrentOf[i]])}&peer_id=-LG0001-${String(i).padStart(12, '0')}` +
      `&port=${1024 + (i % 64512)}&uploaded=10000&downloaded=${seeder ? 1000000 : 50000}&left=${left}` +
      `&key=${((i * 2654435761) % 4294967296).toString(16).padStart(8, '0')}&compact=1` +
      `${step.event === '' ? '' : `&event=${step.event}`}${tail}`,
  );
}

const UDP_EVENTS: Record<string, number> = { '': 0, completed: 1, started: 2, stopped: 3 };

function udpRequest(step: Step, ids: ConnectionIds, clock: Clock): { packet: Buffer; addr: Uint8Array } {
  const addr = FAMILY === FAMILY_V4 ? Uint8Array.of(127, 0, 0, 1 + (step.peer % 16)) : LOOPBACK_V6;
  const window = ids.window(clock.now);
  const connectionId = [window, ids.mac(window, addr, addr.length)];
  if (step.scrape !== null) {
    const packet = Buffer.alloc(16 + 20 * step.scrape.length);
    packet.writeUInt32BE(connectionId[0], 0);
    packet.writeUInt32BE(connectionId[1], 4);
    packet.writeUInt32BE(2, 8);
    packet.writeUInt32BE((random() * 2 ** 32) >>> 0, 12);
    for (const [k, t] of step.scrape.entries()) hashes[t].copy(packet, 16 + 20 * k);
    return { packet, addr };
  }
  const i = step.peer;
  const seeder = isSeeder(i) || step.event === 'completed';
  const packet = Buffer.alloc(98);
  packet.writeUInt32BE(connectionId[0], 0);
  packet.writeUInt32BE(connectionId[1], 4);
  packet.writeUInt32BE(1, 8);
  packet.writeUInt32BE((random() * 2 ** 32) >>> 0, 12);
  hashes[torrentOf[i]].copy(packet, 16);
  packet.write(`-LG0001-${String(i).padStart(12, '0')}`, 36, 'latin1');
  packet.writeBigUInt64BE(seeder ? 1000000n : 50000n, 56);
  packet.writeBigUInt64BE(seeder ? 0n : BigInt(1 + Math.floor(random() * 4e9)), 64);
  packet.writeBigUInt64BE(10000n, 72);
  packet.writeUInt32BE(UDP_EVENTS[step.event], 80);
  packet.writeUInt32BE(0, 84);
  packet.writeUInt32BE(i, 88);
  packet.writeInt32BE(50, 92);
  packet.writeUInt16BE(1024 + ((i >> 4) % 64512), 96);
  return { packet, addr };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function report(proto: string, nsPerRequest: number[], check: string): void {
  if (nsPerRequest.length === 0) return; // --rounds 0: the set-up alone, to subtract from a profile of a run
  const med = median(nsPerRequest);
  const min = Math.min(...nsPerRequest);
  const perCore = Math.round(1e9 / med).toLocaleString('en-US');
  console.log(
    `${proto.padEnd(5)} ${opts.family} ${med.toFixed(0).padStart(6)} ns/request median (min ${min.toFixed(0)}) of ${ROUNDS} rounds × ${REQUESTS.toLocaleString('en-US')}: ${perCore} requests per CPU-second; ${check}`,
  );
}

function benchHttp(): void {
  // As swarmd builds it with its defaults: rate limits and the repeat cache on, loopback exempt from both.
  const tracker = createTracker(DEFAULT_CONFIG, new Clock(), new Counters());
  const options = httpOptionsOf(DEFAULT_CONFIG);
  const handler = new HttpHandler(tracker, new FullScrape(tracker.store, DEFAULT_CONFIG.minInterval), options);
  const log = createLogger({ verbose: false, logFormat: 'json' });
  const batch = new HttpBatch(handler, log, FAMILY, 8192, {
    maxHeadBytes: DEFAULT_CONFIG.maxHeaderBytes,
    headTimeoutMs: 0,
    idleTimeoutMs: 0,
    handshakeTimeoutMs: 0,
    maxConnections: 0,
  });
  const b = batch.buffers;
  for (let i = 0; i < BATCH; i++) b.inAddr.set(FAMILY === FAMILY_V4 ? [127, 0, 0, 1] : LOOPBACK_V6, i * 16);
  const run = (requests: Buffer[]): { ns: number; ok: number } => {
    let ns = 0n;
    let ok = 0;
    for (let at = 0; at < requests.length; at += BATCH) {
      const count = Math.min(BATCH, requests.length - at);
      for (let i = 0; i < count; i++) {
        b.inData.set(requests[at + i], i * 8192);
        b.inLength[i] = requests[at + i].length;
      }
      const t0 = process.hrtime.bigint();
      batch.answer(count);
      ns += process.hrtime.bigint() - t0;
      for (let i = 0; i < count; i++) {
        // "HTTP/1.1 200" and no failure: the generator's test, enough to catch a broken path.
        const o = i * batch.outSlot;
        if (b.outLength[i] > 0 && b.outData[o + 9] === 0x32 && b.outFlags[i] === 0) ok++;
      }
    }
    return { ns: Number(ns), ok };
  };
  const fill = Array.from({ length: PEERS }, (_, peer) => httpRequest({ peer, event: 'started', scrape: null }));
  run(fill);
  const requests = mix(REQUESTS).map(httpRequest);
  const results: number[] = [];
  let ok = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const round = run(requests);
    results.push(round.ns / requests.length);
    ok = round.ok;
  }
  report('http', results, `${ok} of ${requests.length} answered 200 keep-alive in the last round`);
}

function benchUdp(): void {
  // As swarmd builds it with its defaults: rate limits and the repeat cache on, loopback exempt from both.
  const tracker = createTracker(DEFAULT_CONFIG, new Clock(), new Counters());
  const ids = new ConnectionIds();
  const handler = new UdpHandler(tracker, ids);
  const out = new Uint8Array(handler.maxReplySize);
  const outView = new DataView(out.buffer);
  const run = (requests: { packet: Buffer; addr: Uint8Array }[]): { ns: number; ok: number; peers: number } => {
    let ns = 0n;
    let ok = 0;
    let peers = 0;
    for (let at = 0; at < requests.length; at += BATCH) {
      const end = Math.min(requests.length, at + BATCH);
      const t0 = process.hrtime.bigint();
      for (let k = at; k < end; k++) {
        const { packet, addr } = requests[k];
        const n = handler.handle(packet, packet.length, FAMILY, addr, out, outView);
        if (out[3] === 1) peers += (n - 20) / ENDPOINT_SIZE;
        if (n > 0 && out[3] !== 3) ok++;
      }
      ns += process.hrtime.bigint() - t0;
    }
    return { ns: Number(ns), ok, peers };
  };
  const clock = tracker.clock;
  const fill = Array.from({ length: PEERS }, (_, peer) =>
    udpRequest({ peer, event: 'started', scrape: null }, ids, clock),
  );
  run(fill);
  const steps = mix(REQUESTS);
  const requests = steps.map((s) => udpRequest(s, ids, clock));
  const announces = steps.filter((s) => s.scrape === null).length;
  const results: number[] = [];
  let last = { ok: 0, peers: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    const round = run(requests);
    results.push(round.ns / requests.length);
    last = round;
  }
  const perAnnounce = (last.peers / announces).toFixed(1);
  report('udp', results, `${last.ok} of ${requests.length} answered, ${perAnnounce} peers per announce`);
}

for (const proto of opts.protos.split(',')) {
  if (proto === 'http') benchHttp();
  else if (proto === 'udp') benchUdp();
  else throw new Error(`unknown protocol ${proto}`);
}
