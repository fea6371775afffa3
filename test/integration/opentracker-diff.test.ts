// Differential tests: the same requests to Debian's `opentracker` binary and to swarmd, started with the same
// config file and the same command line, and the replies compared decoded (byte for byte only where the format is
// the contract: the failure text, the /stats line layouts). Where swarmd differs on purpose, each side's own form is
// asserted and the difference is listed in docs/opentracker-compatibility.md.
//
// Needs Debian's `opentracker` package (.ci/run installs it). Without it the tests are skipped, or fail when CI is set.
// Run as root (as CI does), opentracker chroots into its run directory and becomes `nobody`: see helpers/opentracker.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type BDict, type BValue, decode } from '../../src/protocol/bencode.ts';
import {
  makeRunDir,
  type Opentracker,
  removeRunDir,
  requireOpentracker,
  startOpentracker,
} from '../helpers/opentracker.ts';
import { freePort } from '../helpers/ports.ts';
import { type HttpResponse, parseResponse, pct, REPO_ROOT, type Swarmd, spawnSwarmd } from '../helpers/swarmd.ts';

const { binary: OPENTRACKER, skip: opentrackerMissing } = requireOpentracker();
const skip = opentrackerMissing;

const HOST = '127.0.0.1';
const REFUSED = 'Requested download is not authorized for use with this tracker.';

// ---------------------------------------------------------------------------------------------------------------
// The pair of trackers

interface Side {
  name: 'opentracker' | 'swarmd';
  host: string;
  port: number;
}

interface Pair {
  ot: Side;
  sw: Side;
  /** opentracker's and swarmd's run directories. */
  otDir: string;
  swDir: string;
  otProcess: Opentracker;
  swProcess: Swarmd;
}

/**
 * The argument list of one side: the same for both, but for its own run directory and port. `-f` with the run
 * directory's `opentracker.conf` when there is one.
 */
function sharedArgs(dir: string, port: number, extra: string[], config: boolean): string[] {
  const p = String(port);
  const f = config ? ['-f', path.join(dir, 'opentracker.conf')] : [];
  return [...f, '-i', HOST, '-p', p, '-P', p, '-d', dir, ...extra];
}

/**
 * Starts opentracker and swarmd, each on its own copy of `files` (with `-f opentracker.conf` when `files` has it) and
 * its own port, with the same arguments (`extra` appended to both); swarmd also gets `--workers 1` and `swarmdOnly`.
 */
async function startPair(
  files: Record<string, string | Uint8Array>,
  extra: string[] = [],
  swarmdOnly: string[] = [],
): Promise<Pair> {
  const otDir = await makeRunDir('swarmd-otdiff-ot-', files);
  const swDir = await makeRunDir('swarmd-otdiff-sw-', files);
  const otPort = await freePort();
  const swPort = await freePort();
  const config = 'opentracker.conf' in files;
  const otArgs = sharedArgs(otDir, otPort, extra, config);
  let otProcess: Opentracker | undefined;
  try {
    otProcess = await startOpentracker(OPENTRACKER, otArgs, HOST, otPort);
    // --repeat-cache 0: the sequences re-announce within seconds and compare fresh counts; opentracker keeps no
    // replies (docs/opentracker-compatibility.md).
    const swArgs = [
      ...sharedArgs(swDir, swPort, extra, config),
      '--workers',
      '1',
      '--repeat-cache',
      '0',
      ...swarmdOnly,
    ];
    const swProcess = await spawnSwarmd(swArgs, HOST, swPort, { cwd: swDir });
    return {
      ot: { name: 'opentracker', host: HOST, port: otPort },
      sw: { name: 'swarmd', host: HOST, port: swPort },
      otDir,
      swDir,
      otProcess,
      swProcess,
    };
  } catch (err) {
    await otProcess?.stop();
    await removeRunDir(otDir);
    await removeRunDir(swDir);
    throw err;
  }
}

async function stopPair(pair: Pair | undefined): Promise<void> {
  if (pair === undefined) return;
  await Promise.all([pair.otProcess.stop(), pair.swProcess.stop()]);
  await removeRunDir(pair.otDir);
  await removeRunDir(pair.swDir);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

interface Reply extends HttpResponse {
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: string;
  /** The body, gunzipped when the reply says gzip. */
  plain: Buffer;
}

/**
 * GET `target` on a new connection from `from` (any 127.0.0.0/8 address) and read one reply; opentracker closes
 * after each, swarmd may keep the connection, which is then closed here.
 */
function httpGet(side: Side, target: string, options: { headers?: string; from?: string } = {}): Promise<Reply> {
  const request = `GET ${target} HTTP/1.1\r\nHost: ${side.host}\r\n${options.headers ?? ''}\r\n`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: side.host, port: side.port, localAddress: options.from });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) return reject(err);
      const parsed = parseResponse(data);
      if (parsed === null) {
        return reject(
          new Error(`${side.name}: incomplete reply to ${target}: ${JSON.stringify(data.toString('latin1'))}`),
        );
      }
      const r = parsed.response;
      const version = data.subarray(0, 8).toString('latin1');
      const plain = r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body;
      resolve({ ...r, version, plain });
    };
    const timer = setTimeout(() => finish(new Error(`${side.name}: no reply to ${target} within 5 s`)), 5000);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (parseResponse(data) !== null) finish(null);
    });
    socket.on('close', () => finish(null));
    socket.on('error', (err) => finish(err));
    socket.write(request);
  });
}

/** The same GET to both sides. */
async function both(pair: Pair, target: string, options: { headers?: string; from?: string } = {}) {
  const [ot, sw] = await Promise.all([httpGet(pair.ot, target, options), httpGet(pair.sw, target, options)]);
  return { ot, sw };
}

// ---------------------------------------------------------------------------------------------------------------
// Bencode

/**
 * A lenient bencode dictionary: keys in the order sent, repeats kept. opentracker's scrape lists hashes in request
 * order with repeats, which the canonical decoder (src/protocol/bencode.ts) refuses, as it should.
 */
class LooseDict {
  readonly entries: [string, Loose][] = [];

  get(key: string): Loose | undefined {
    return this.entries.find(([k]) => k === key)?.[1];
  }

  keys(): string[] {
    return this.entries.map(([k]) => k);
  }
}
type Loose = number | Buffer | Loose[] | LooseDict;

/** Decodes one bencoded value (lenient about key order and repeats; strict about everything else). */
function looseDecode(buf: Buffer): Loose {
  let pos = 0;
  const value = (): Loose => {
    const c = buf[pos];
    if (c === 0x69) {
      const end = buf.indexOf(0x65, pos);
      const text = buf.subarray(pos + 1, end).toString('latin1');
      assert.match(text, /^(0|-?[1-9]\d*)$/, `bad integer ${text}`);
      pos = end + 1;
      return Number(text);
    }
    if (c === 0x6c || c === 0x64) {
      pos++;
      const list: Loose[] = [];
      const dict = new LooseDict();
      while (buf[pos] !== 0x65) {
        assert.ok(pos < buf.length, 'bencode ends inside a list or dictionary');
        if (c === 0x6c) list.push(value());
        else {
          const key = value();
          assert.ok(Buffer.isBuffer(key), 'dictionary key is not a string');
          dict.entries.push([key.toString('latin1'), value()]);
        }
      }
      pos++;
      return c === 0x6c ? list : dict;
    }
    const colon = buf.indexOf(0x3a, pos);
    assert.ok(colon > pos, `bad bencode at ${pos}`);
    const length = Number(buf.subarray(pos, colon).toString('latin1'));
    pos = colon + 1 + length;
    assert.ok(pos <= buf.length, 'string runs past the end');
    return buf.subarray(colon + 1, pos);
  };
  const v = value();
  assert.equal(pos, buf.length, 'trailing bytes after the bencoded value');
  return v;
}

/** opentracker's reply as a plain dictionary (keys must not repeat). */
function otDict(body: Buffer): BDict {
  const toPlain = (v: Loose): BValue => {
    if (v instanceof LooseDict) {
      const out: BDict = {};
      for (const [k, x] of v.entries) {
        assert.ok(!(k in out), `repeated key ${Buffer.from(k, 'latin1').toString('hex')}`);
        out[k] = toPlain(x);
      }
      return out;
    }
    if (Array.isArray(v)) return v.map(toPlain);
    return v;
  };
  const d = toPlain(looseDecode(body));
  assert.ok(isDict(d), 'reply is not a dictionary');
  return d;
}

/** swarmd's reply: canonical bencode (sorted keys) is part of its contract. */
function swDict(body: Buffer): BDict {
  const d = decode(body);
  assert.ok(isDict(d), 'reply is not a dictionary');
  return d;
}

function isDict(v: BValue | undefined): v is BDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function int(d: BDict, key: string): number {
  const v = d[key];
  assert.equal(typeof v, 'number', `${key} is not an integer: ${String(v)}`);
  return v as number;
}

function bytes(d: BDict, key: string): Buffer {
  const v = d[key];
  assert.ok(v instanceof Uint8Array, `${key} is not a string`);
  return Buffer.from(v);
}

function sub(d: BDict, key: string): BDict {
  const v = d[key];
  assert.ok(isDict(v), `${key} is not a dictionary`);
  return v;
}

/** Compact IPv4 peers as sorted "a.b.c.d:port" strings. */
function peerList(compact: Buffer): string[] {
  assert.equal(compact.length % 6, 0, `compact peers of ${compact.length} bytes`);
  const out: string[] = [];
  for (let i = 0; i < compact.length; i += 6) {
    out.push(`${[...compact.subarray(i, i + 4)].join('.')}:${compact.readUInt16BE(i + 4)}`);
  }
  return out;
}

const sorted = (a: Iterable<string>): string[] => [...a].sort();

/** A scrape's `files` as hex hash → { complete, downloaded, incomplete }. */
function scrapeFiles(d: BDict): Map<string, { complete: number; downloaded: number; incomplete: number }> {
  const out = new Map<string, { complete: number; downloaded: number; incomplete: number }>();
  for (const [k, v] of Object.entries(sub(d, 'files'))) {
    assert.ok(isDict(v));
    out.set(Buffer.from(k, 'latin1').toString('hex'), {
      complete: int(v, 'complete'),
      downloaded: int(v, 'downloaded'),
      incomplete: int(v, 'incomplete'),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Test data

/** A hash that is easy to read in hex: `tag` repeated. */
const hashOf = (tag: number): Buffer => Buffer.alloc(20, tag);
const hex = (h: Buffer): string => h.toString('hex');
const HEX = (h: Buffer): string => h.toString('hex').toUpperCase();

const A = hashOf(0xa1); // the HTTP announce sequence
const B = hashOf(0xb2); // 210 leechers: numwant
const C = hashOf(0xc3); // whitelisted, never announced
const D = hashOf(0xd4); // UDP
const F = hashOf(0xf6); // whitelisted: a torrent whose only peer leaves
const X = hashOf(0x5e); // not whitelisted
const WHITELIST = `# differential test\n${[A, B, C, D, F].map(hex).join('\n')}\n`;

function conf(lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

const MAIN_CONF = conf([
  'access.whitelist whitelist.txt',
  'access.stats 127.0.0.1',
  'access.stats_path stats',
  'tracker.redirect_url http://example.invalid/',
]);

interface Announce {
  hash: Buffer;
  port: number;
  left?: number;
  event?: string;
  numwant?: number;
  /** Source address (127.0.0.0/8). */
  from?: string;
  extra?: string;
}

function announceUrl(a: Announce): string {
  const peerId = Buffer.from(`-DF0001-${String(a.port).padStart(12, '0')}`);
  let q = `/announce?info_hash=${pct(a.hash)}&peer_id=${pct(peerId)}&port=${a.port}&uploaded=0&downloaded=0`;
  q += `&left=${a.left ?? 1000}&compact=1`;
  if (a.event) q += `&event=${a.event}`;
  if (a.numwant !== undefined) q += `&numwant=${a.numwant}`;
  return q + (a.extra ?? '');
}

/** Both replies to one announce, decoded, each checked for its own interval rules. */
async function announceBoth(pair: Pair, a: Announce): Promise<{ ot: BDict; sw: BDict }> {
  const r = await both(pair, announceUrl(a), { from: a.from });
  assert.equal(r.ot.status, 200);
  assert.equal(r.sw.status, 200);
  const ot = otDict(r.ot.plain);
  const sw = swDict(r.sw.plain);
  assert.equal(ot['failure reason'], undefined, `opentracker refused: ${r.ot.plain}`);
  assert.equal(sw['failure reason'], undefined, `swarmd refused: ${r.sw.plain}`);
  // opentracker: 1800 - 180 + rand(0…359), min interval = interval / 2.
  const otInterval = int(ot, 'interval');
  assert.ok(otInterval >= 1620 && otInterval <= 1979, `opentracker interval ${otInterval}`);
  assert.equal(int(ot, 'min interval'), Math.floor(otInterval / 2));
  // swarmd: --interval 1800 ± 10 %, min interval 60 (--min-interval): a deliberate difference.
  const swInterval = int(sw, 'interval');
  assert.ok(swInterval >= 1620 && swInterval <= 1980, `swarmd interval ${swInterval}`);
  assert.equal(int(sw, 'min interval'), 60);
  return { ot, sw };
}

// ---------------------------------------------------------------------------------------------------------------
// UDP (BEP 15)

const UDP_MAGIC = 0x41727101980n;

class Udp {
  private readonly socket = dgram.createSocket('udp4');
  private readonly side: Side;
  private tid = 0x1000;

  constructor(side: Side) {
    this.side = side;
  }

  request(msg: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const onMessage = (reply: Buffer) => {
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        resolve(reply);
      };
      const timer = setTimeout(() => {
        this.socket.off('message', onMessage);
        resolve(null);
      }, timeoutMs);
      this.socket.on('message', onMessage);
      this.socket.send(msg, this.side.port, this.side.host);
    });
  }

  nextTid(): number {
    return ++this.tid;
  }

  async connect(): Promise<Buffer> {
    const msg = Buffer.alloc(16);
    msg.writeBigUInt64BE(UDP_MAGIC, 0);
    msg.writeUInt32BE(0, 8);
    const tid = this.nextTid();
    msg.writeUInt32BE(tid, 12);
    const reply = await this.request(msg);
    assert.ok(reply !== null, `${this.side.name}: no UDP connect reply`);
    assert.equal(reply.length, 16);
    assert.equal(reply.readUInt32BE(0), 0);
    assert.equal(reply.readUInt32BE(4), tid);
    return reply.subarray(8, 16);
  }

  announceMessage(
    id: Buffer,
    a: { hash: Buffer; port: number; left: bigint; event?: number; numwant?: number },
  ): { msg: Buffer; tid: number } {
    const msg = Buffer.alloc(98);
    id.copy(msg, 0);
    msg.writeUInt32BE(1, 8);
    const tid = this.nextTid();
    msg.writeUInt32BE(tid, 12);
    a.hash.copy(msg, 16);
    Buffer.from(`-DU0001-${String(a.port).padStart(12, '0')}`).copy(msg, 36);
    msg.writeBigUInt64BE(a.left, 64);
    msg.writeUInt32BE(a.event ?? 0, 80);
    msg.writeInt32BE(a.numwant ?? -1, 92);
    msg.writeUInt16BE(a.port, 96);
    return { msg, tid };
  }

  scrapeMessage(id: Buffer, hashes: Buffer[]): { msg: Buffer; tid: number } {
    const msg = Buffer.alloc(16 + 20 * hashes.length);
    id.copy(msg, 0);
    msg.writeUInt32BE(2, 8);
    const tid = this.nextTid();
    msg.writeUInt32BE(tid, 12);
    hashes.forEach((h, i) => {
      h.copy(msg, 16 + 20 * i);
    });
    return { msg, tid };
  }

  close(): void {
    this.socket.close();
  }
}

interface UdpAnnounceReply {
  interval: number;
  leechers: number;
  seeders: number;
  peers: string[];
}

function parseUdpAnnounce(reply: Buffer | null, tid: number, who: string): UdpAnnounceReply {
  assert.ok(reply !== null, `${who}: no UDP announce reply`);
  assert.equal(reply.readUInt32BE(0), 1, `${who}: action ${reply.readUInt32BE(0)}: ${reply.subarray(8)}`);
  assert.equal(reply.readUInt32BE(4), tid);
  assert.ok(reply.length >= 20 && (reply.length - 20) % 6 === 0, `${who}: announce reply of ${reply.length} bytes`);
  return {
    interval: reply.readUInt32BE(8),
    leechers: reply.readUInt32BE(12),
    seeders: reply.readUInt32BE(16),
    peers: peerList(reply.subarray(20)),
  };
}

function parseUdpScrape(reply: Buffer | null, tid: number, n: number, who: string): number[][] {
  assert.ok(reply !== null, `${who}: no UDP scrape reply`);
  assert.equal(reply.readUInt32BE(0), 2, `${who}: action ${reply.readUInt32BE(0)}`);
  assert.equal(reply.readUInt32BE(4), tid);
  assert.equal(reply.length, 8 + 12 * n);
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const at = 8 + 12 * i;
    out.push([reply.readUInt32BE(at), reply.readUInt32BE(at + 4), reply.readUInt32BE(at + 8)]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// /stats

/** opentracker's four MRTG lines: two values, the uptime, a title. */
function mrtg(text: string, title: RegExp): { a: number; b: number } {
  const lines = text.split('\n');
  assert.equal(lines.length, 4, `not 4 lines: ${JSON.stringify(text)}`);
  assert.match(lines[0], /^\d+$/);
  assert.match(lines[1], /^\d+$/);
  assert.match(lines[2], /^\d+ seconds \(\d+ hours\)$/);
  assert.match(lines[3], title);
  return { a: Number(lines[0]), b: Number(lines[1]) };
}

/** Values of the XML elements of `everything`, keyed by their path (`stats/peers/count`, `…/count[interval=00]`). */
function xmlValues(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: string[] = [];
  const tag = /<(\/?)([a-z_0-9]+)((?:\s+[a-z_]+="[^"]*")*)\s*>([^<]*)/g;
  for (let m = tag.exec(xml); m !== null; m = tag.exec(xml)) {
    const [, close, name, attrs, text] = m;
    if (close) {
      assert.equal(stack.pop()?.split('[')[0], name, `unbalanced </${name}>`);
      continue;
    }
    const attr = attrs.trim().replace(/^[a-z_]+="([^"]*)"$/, '$1');
    stack.push(attr ? `${name}[${attr}]` : name);
    const key = stack.join('/');
    if (xml[tag.lastIndex] === '<' && xml.startsWith(`</${name}>`, tag.lastIndex)) out.set(key, text.trim());
  }
  assert.equal(stack.length, 0, 'unclosed XML elements');
  return out;
}

// ===============================================================================================================

/** A statedump's lines as [HEX40, base, downloaded], each checked to have that form. */
function statedumpLines(text: string): [string, string, string][] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^([0-9A-F]{40}):(\d+):(\d+)$/.exec(line);
      assert.ok(m, `statedump line ${JSON.stringify(line)}`);
      return [m[1], m[2], m[3]];
    });
}

describe('opentracker and swarmd, same config and flags', { skip }, () => {
  let pair: Pair | undefined;
  let p: Pair;
  before(async () => {
    // swarmd's full scrape is off by default (a deliberate difference): given here to compare it.
    pair = await startPair({ 'opentracker.conf': MAIN_CONF, 'whitelist.txt': WHITELIST }, [], ['--full-scrape']);
    p = pair;
  });
  after(async () => {
    await stopPair(pair);
  });

  test('HTTP announce sequence: the same counts and peers (less the requester, and seeders for a seeder)', async () => {
    // Who is in the swarm of A after each step: "ip:port" → seeder?
    const swarm = new Map<string, boolean>();
    const steps: (Announce & { note: string; completes?: boolean })[] = [
      { hash: A, port: 6001, event: 'started', note: 'first leecher' },
      { hash: A, port: 6002, left: 0, event: 'started', note: 'first seeder' },
      { hash: A, port: 6003, note: 'second leecher' },
      { hash: A, port: 6004, from: '127.0.0.2', note: 'leecher from 127.0.0.2' },
      { hash: A, port: 6005, from: '127.0.1.7', note: 'leecher from another /24' },
      { hash: A, port: 6003, left: 500, event: 'completed', note: 'completed with left > 0 does not count' },
      { hash: A, port: 6003, left: 0, event: 'completed', note: 'completed with left = 0 counts', completes: true },
      { hash: A, port: 6003, left: 0, event: 'completed', note: 'a second completed does not count again' },
      { hash: A, port: 6006, left: 0, event: 'completed', note: 'a new peer completing counts', completes: true },
      { hash: A, port: 6001, note: 'a re-announce' },
      { hash: A, port: 6004, from: '127.0.0.2', event: 'stopped', note: 'a leecher stops' },
      { hash: A, port: 6099, event: 'stopped', note: 'an unknown peer stops' },
      { hash: A, port: 6007, from: '127.0.2.9', left: 0, note: 'seeder from a third /24' },
      { hash: A, port: 6001, numwant: 500, note: 'a leecher asks for more than there are' },
      { hash: A, port: 6002, left: 0, numwant: 500, note: 'a seeder asks for more than there are' },
    ];
    let downloaded = 0;
    for (const step of steps) {
      const self = `${step.from ?? HOST}:${step.port}`;
      const seeder = step.left === 0;
      if (step.event === 'stopped') swarm.delete(self);
      else swarm.set(self, seeder);
      if (step.completes) downloaded++;
      const { ot, sw } = await announceBoth(p, step);
      const what = `${step.note} (${self})`;
      const seeders = [...swarm.values()].filter(Boolean).length;
      assert.equal(int(ot, 'complete'), seeders, `opentracker complete: ${what}`);
      assert.equal(int(sw, 'complete'), seeders, `swarmd complete: ${what}`);
      assert.equal(int(ot, 'incomplete'), swarm.size - seeders, `opentracker incomplete: ${what}`);
      assert.equal(int(sw, 'incomplete'), swarm.size - seeders, `swarmd incomplete: ${what}`);
      if (step.event === 'stopped') {
        // opentracker's stopped reply has no `downloaded` and no peers; swarmd's has both keys (peers empty).
        assert.equal(ot.downloaded, undefined, what);
        assert.equal(int(sw, 'downloaded'), downloaded, what);
        assert.equal(bytes(ot, 'peers').length, 0);
        assert.equal(bytes(sw, 'peers').length, 0);
        continue;
      }
      assert.equal(int(ot, 'downloaded'), downloaded, `opentracker downloaded: ${what}`);
      assert.equal(int(sw, 'downloaded'), downloaded, `swarmd downloaded: ${what}`);
      // Every peer fits the default numwant of 50: each side returns the whole swarm, by its own rules.
      const otPeers = peerList(bytes(ot, 'peers'));
      const swPeers = peerList(bytes(sw, 'peers'));
      assert.equal(new Set(otPeers).size, otPeers.length, `opentracker repeats a peer: ${what}`);
      assert.equal(new Set(swPeers).size, swPeers.length, `swarmd repeats a peer: ${what}`);
      // opentracker: everyone, the requester included, seeders to seeders too.
      assert.deepEqual(sorted(otPeers), sorted(swarm.keys()), `opentracker peers: ${what}`);
      // swarmd: never the requester, and no seeders to a seeder.
      const expected = [...swarm].filter(([ep, s]) => ep !== self && !(seeder && s)).map(([ep]) => ep);
      assert.deepEqual(sorted(swPeers), sorted(expected), `swarmd peers: ${what}`);
      assert.deepEqual(
        sorted(swPeers),
        sorted(otPeers.filter((ep) => ep !== self && !(seeder && swarm.get(ep)))),
        `peers, opentracker's less the requester (and seeders for a seeder): ${what}`,
      );
      // opentracker writes leechers first, then seeders.
      const firstSeeder = otPeers.findIndex((ep) => swarm.get(ep));
      if (firstSeeder >= 0) {
        assert.ok(
          otPeers.slice(firstSeeder).every((ep) => swarm.get(ep)),
          `leechers before seeders: ${what}`,
        );
      }
      // swarmd adds `tracker id` and `external ip` (BEP 24).
      assert.equal(bytes(sw, 'tracker id').toString(), 'swarmd');
      assert.deepEqual([...bytes(sw, 'external ip')], (step.from ?? HOST).split('.').map(Number));
      assert.deepEqual(Object.keys(ot), ['complete', 'downloaded', 'incomplete', 'interval', 'min interval', 'peers']);
    }
  });

  test('numwant: 0, default (50), small, and more than the cap of 200', async () => {
    const n = 210;
    const ports = Array.from({ length: n }, (_, i) => 20000 + i);
    for (let i = 0; i < n; i += 30) {
      await Promise.all(ports.slice(i, i + 30).map((port) => announceBoth(p, { hash: B, port, numwant: 0 })));
    }
    const all = new Set(ports.map((port) => `${HOST}:${port}`));
    const check = async (numwant: number | undefined, otCount: number, swCount: number) => {
      const { ot, sw } = await announceBoth(p, { hash: B, port: 20000, numwant });
      assert.equal(int(ot, 'incomplete'), n);
      assert.equal(int(sw, 'incomplete'), n);
      const otPeers = peerList(bytes(ot, 'peers'));
      const swPeers = peerList(bytes(sw, 'peers'));
      assert.equal(otPeers.length, otCount, `opentracker, numwant ${numwant}`);
      assert.equal(swPeers.length, swCount, `swarmd, numwant ${numwant}`);
      assert.equal(new Set(otPeers).size, otPeers.length);
      assert.equal(new Set(swPeers).size, swPeers.length);
      assert.ok(otPeers.every((ep) => all.has(ep)));
      assert.ok(swPeers.every((ep) => all.has(ep) && ep !== `${HOST}:20000`));
    };
    await check(0, 0, 0);
    await check(undefined, 50, 50);
    await check(7, 7, 7);
    await check(1000, 200, 200);
    await check(-1, 50, 50);
  });

  test('a hash not on the whitelist: the same failure reason over HTTP; over UDP an 8-byte reply vs an error', async () => {
    const r = await both(p, announceUrl({ hash: X, port: 7001 }));
    assert.equal(r.ot.status, 200);
    assert.equal(r.sw.status, 200);
    const expected = `d14:failure reason${REFUSED.length}:${REFUSED}e`;
    assert.equal(r.ot.plain.toString('latin1'), expected);
    assert.equal(r.sw.plain.toString('latin1'), expected);
    for (const side of [p.ot, p.sw]) {
      const udp = new Udp(side);
      try {
        const id = await udp.connect();
        const { msg, tid } = udp.announceMessage(id, { hash: X, port: 7001, left: 0n });
        const reply = await udp.request(msg);
        assert.ok(reply !== null, `${side.name}: no UDP reply to a refused announce`);
        if (side.name === 'opentracker') {
          // action 1 (announce) and the transaction id, nothing else: not an error packet.
          assert.equal(reply.length, 8);
          assert.equal(reply.readUInt32BE(0), 1);
          assert.equal(reply.readUInt32BE(4), tid);
        } else {
          // action 3 (error), the transaction id, opentracker's HTTP text.
          assert.equal(reply.readUInt32BE(0), 3);
          assert.equal(reply.readUInt32BE(4), tid);
          assert.equal(reply.subarray(8).toString('latin1'), REFUSED);
        }
      } finally {
        udp.close();
      }
    }
    // Nothing was created on either side.
    const scrape = await both(p, `/scrape?info_hash=${pct(X)}`);
    assert.equal(scrapeFiles(otDict(scrape.ot.plain)).size, 0);
    assert.equal(scrapeFiles(swDict(scrape.sw.plain)).size, 0);
  });

  test('HTTP scrape: known, whitelisted-unknown and not-whitelisted hashes, repeated hashes', async () => {
    const r = await both(p, `/scrape?info_hash=${pct(A)}&info_hash=${pct(C)}&info_hash=${pct(X)}&info_hash=${pct(B)}`);
    assert.equal(r.ot.status, 200);
    assert.equal(r.sw.status, 200);
    const ot = scrapeFiles(otDict(r.ot.plain));
    const swReply = swDict(r.sw.plain);
    const sw = scrapeFiles(swReply);
    // Known torrents: the same figures.
    for (const h of [A, B]) {
      assert.ok(ot.has(hex(h)), `opentracker omits ${hex(h)}`);
      assert.deepEqual(sw.get(hex(h)), ot.get(hex(h)), `figures of ${hex(h)}`);
    }
    assert.deepEqual(ot.get(hex(A)), { complete: 4, downloaded: 2, incomplete: 2 });
    // Not whitelisted: omitted by both.
    assert.equal(ot.has(hex(X)), false);
    assert.equal(sw.has(hex(X)), false);
    // Whitelisted but never announced: opentracker omits it, swarmd reports zeros (docs/protocol.md).
    assert.equal(ot.has(hex(C)), false);
    assert.deepEqual(sw.get(hex(C)), { complete: 0, downloaded: 0, incomplete: 0 });
    // swarmd adds `downloaders` (BEP 21) and `flags.min_request_interval`.
    assert.equal(int(sub(sub(swReply, 'files'), A.toString('latin1')), 'downloaders'), 2);
    assert.equal(int(sub(swReply, 'flags'), 'min_request_interval'), 60);

    // A repeated hash: opentracker repeats the entry in request order (not canonical bencode); swarmd lists it once.
    const rep = await both(p, `/scrape?info_hash=${pct(B)}&info_hash=${pct(A)}&info_hash=${pct(B)}`);
    const otLoose = looseDecode(rep.ot.plain);
    assert.ok(otLoose instanceof LooseDict);
    const otFiles = otLoose.get('files');
    assert.ok(otFiles instanceof LooseDict);
    assert.deepEqual(
      otFiles.keys().map((k) => Buffer.from(k, 'latin1').toString('hex')),
      [hex(B), hex(A), hex(B)],
    );
    assert.deepEqual([...scrapeFiles(swDict(rep.sw.plain)).keys()], [hex(A), hex(B)]);
  });

  test('UDP: connect, announce and scrape give the same counts; HTTP and UDP peers are one swarm', async () => {
    const ot = new Udp(p.ot);
    const sw = new Udp(p.sw);
    try {
      const ids = { ot: await ot.connect(), sw: await sw.connect() };
      const swarm = new Map<string, boolean>();
      const steps: { port: number; left: bigint; event?: number; numwant?: number }[] = [
        { port: 8001, left: 100n },
        { port: 8002, left: 0n },
        { port: 8003, left: 100n, event: 2 },
        { port: 8003, left: 50n, event: 1 }, // completed with left > 0: not counted
        { port: 8003, left: 0n, event: 1 }, // completed
        { port: 8001, left: 100n, numwant: 0 },
        { port: 8001, left: 100n, numwant: 1 },
        { port: 8004, left: 100n, event: 3 }, // stopped, unknown peer
        { port: 8002, left: 0n, event: 3 }, // stopped
      ];
      for (const step of steps) {
        const self = `${HOST}:${step.port}`;
        if (step.event === 3) swarm.delete(self);
        else swarm.set(self, step.left === 0n);
        const a = ot.announceMessage(ids.ot, { hash: D, ...step });
        const b = sw.announceMessage(ids.sw, { hash: D, ...step });
        const [otRaw, swRaw] = await Promise.all([ot.request(a.msg), sw.request(b.msg)]);
        const otR = parseUdpAnnounce(otRaw, a.tid, 'opentracker');
        const swR = parseUdpAnnounce(swRaw, b.tid, 'swarmd');
        const seeders = [...swarm.values()].filter(Boolean).length;
        const what = `UDP ${JSON.stringify({ ...step, left: String(step.left) })}`;
        assert.equal(otR.seeders, seeders, what);
        assert.equal(swR.seeders, seeders, what);
        assert.equal(otR.leechers, swarm.size - seeders, what);
        assert.equal(swR.leechers, swarm.size - seeders, what);
        assert.ok(otR.interval >= 1620 && otR.interval <= 1979, `opentracker interval ${otR.interval}`);
        assert.ok(swR.interval >= 1620 && swR.interval <= 1980, `swarmd interval ${swR.interval}`);
        if (step.event === 3) {
          assert.equal(otRaw?.length, 20, what);
          assert.equal(swRaw?.length, 20, what);
          continue;
        }
        if (step.numwant !== undefined) {
          assert.equal(otR.peers.length, Math.min(step.numwant, swarm.size), what);
          assert.equal(swR.peers.length, Math.min(step.numwant, swarm.size - 1), what);
          assert.ok(!swR.peers.includes(self));
          continue;
        }
        assert.deepEqual(sorted(otR.peers), sorted(swarm.keys()), `opentracker peers: ${what}`);
        const seeder = step.left === 0n;
        assert.deepEqual(
          sorted(swR.peers),
          sorted(otR.peers.filter((ep) => ep !== self && !(seeder && swarm.get(ep)))),
          `swarmd peers: ${what}`,
        );
      }

      // A UDP announce on A gets the HTTP peers of A (the same swarm; counts include the new UDP peer).
      const a = ot.announceMessage(ids.ot, { hash: A, port: 8101, left: 100n });
      const b = sw.announceMessage(ids.sw, { hash: A, port: 8101, left: 100n });
      const [otA, swA] = [
        parseUdpAnnounce(await ot.request(a.msg), a.tid, 'opentracker'),
        parseUdpAnnounce(await sw.request(b.msg), b.tid, 'swarmd'),
      ];
      assert.deepEqual([otA.seeders, otA.leechers], [4, 3]);
      assert.deepEqual([swA.seeders, swA.leechers], [4, 3]);
      assert.deepEqual(sorted(swA.peers), sorted(otA.peers.filter((ep) => ep !== `${HOST}:8101`)));

      // num_want -1 (BEP 15: "default"): opentracker reads it unsigned and gives its cap of 200, swarmd its default 50.
      const na = ot.announceMessage(ids.ot, { hash: B, port: 20000, left: 1000n, numwant: -1 });
      const nb = sw.announceMessage(ids.sw, { hash: B, port: 20000, left: 1000n, numwant: -1 });
      const otB = parseUdpAnnounce(await ot.request(na.msg), na.tid, 'opentracker');
      const swB = parseUdpAnnounce(await sw.request(nb.msg), nb.tid, 'swarmd');
      assert.deepEqual([otB.leechers, swB.leechers], [210, 210]);
      assert.equal(otB.peers.length, 200);
      assert.equal(swB.peers.length, 50);

      // Scrape: known (HTTP and UDP torrents), whitelisted-unknown, not whitelisted — zeros for the last two on both.
      const hashes = [A, B, C, D, X];
      const sa = ot.scrapeMessage(ids.ot, hashes);
      const sb = sw.scrapeMessage(ids.sw, hashes);
      const otS = parseUdpScrape(await ot.request(sa.msg), sa.tid, hashes.length, 'opentracker');
      const swS = parseUdpScrape(await sw.request(sb.msg), sb.tid, hashes.length, 'swarmd');
      assert.deepEqual(swS, otS);
      assert.deepEqual(otS, [
        [4, 2, 3],
        [0, 0, 210],
        [0, 0, 0],
        [1, 1, 1],
        [0, 0, 0],
      ]);

      // A wrong connection id: both answer with an error packet (action 3), each with its own text.
      const bad = Buffer.from('0123456789abcdef', 'hex');
      const wa = ot.scrapeMessage(bad, [A]);
      const wb = sw.scrapeMessage(bad, [A]);
      const otE = await ot.request(wa.msg);
      const swE = await sw.request(wb.msg);
      assert.ok(otE !== null && swE !== null);
      assert.equal(otE.readUInt32BE(0), 3);
      assert.equal(swE.readUInt32BE(0), 3);
      assert.equal(otE.subarray(8).toString('latin1'), 'Connection ID missmatch.\0');
      assert.equal(swE.subarray(8).toString('latin1'), 'bad connection id');
    } finally {
      ot.close();
      sw.close();
    }
  });

  test('full scrape /scrape, plain and gzip: the same torrents and figures', async () => {
    const plain = await both(p, '/scrape');
    const gz = await both(p, '/scrape', { headers: 'Accept-Encoding: gzip\r\n' });
    for (const r of [plain, gz]) {
      assert.equal(r.ot.status, 200);
      assert.equal(r.sw.status, 200);
    }
    assert.equal(plain.ot.headers['content-encoding'], undefined);
    assert.equal(plain.sw.headers['content-encoding'], undefined);
    assert.equal(gz.ot.headers['content-encoding'], 'gzip');
    assert.equal(gz.sw.headers['content-encoding'], 'gzip');
    const otPlain = scrapeFiles(otDict(plain.ot.plain));
    const swPlainReply = swDict(plain.sw.plain);
    assert.deepEqual(scrapeFiles(swPlainReply), otPlain);
    assert.deepEqual(scrapeFiles(otDict(gz.ot.plain)), otPlain);
    assert.deepEqual(scrapeFiles(swDict(gz.sw.plain)), otPlain);
    assert.deepEqual(sorted(otPlain.keys()), sorted([A, B, D].map(hex)));
    // opentracker's full scrape is in ascending hash order too (canonical); swarmd adds the flags.
    assert.deepEqual([...otPlain.keys()], sorted(otPlain.keys()));
    assert.equal(int(sub(swPlainReply, 'flags'), 'min_request_interval'), 60);
    assert.equal(plain.ot.version, 'HTTP/1.0');
  });

  test('/stats modes: the same layout, and the same figures where they are deterministic', async (t) => {
    const stats = async (query: string, headers = '') => {
      const r = await both(p, `/stats?${query}`, { headers });
      assert.equal(r.ot.status, 200, `opentracker ${query}: ${r.ot.status}`);
      assert.equal(r.sw.status, 200, `swarmd ${query}: ${r.sw.status}`);
      return { ot: r.ot.plain.toString('latin1'), sw: r.sw.plain.toString('latin1'), raw: r };
    };
    // What is in both swarms now: A 4 seeders + 3 leechers (HTTP and UDP), B 210 leechers, D 1 seeder 1 leecher.
    const peer = await stats('mode=peer');
    assert.equal(peer.ot, '219\n5\nopentracker serving 3 torrents\nopentracker');
    assert.equal(peer.sw, peer.ot);
    const torr = await stats('mode=torr');
    assert.equal(torr.ot, '3\n0\nopentracker serving 3 torrents\nopentracker');
    assert.equal(torr.sw, torr.ot);

    // Counters of connections and uptime legitimately differ: the layout only.
    const conn = await stats('mode=conn');
    mrtg(conn.ot, /^opentracker connections, \d+ conns\/s :: \d+ success\/s\.$/);
    mrtg(conn.sw, /^opentracker connections, \d+ conns\/s :: \d+ success\/s\.$/);
    const tcp4 = await stats('mode=tcp4');
    mrtg(tcp4.ot, /^opentracker tcp4 stats, \d+ conns\/s :: \d+ success\/s\.$/);
    mrtg(tcp4.sw, /^opentracker tcp4 stats, \d+ conns\/s :: \d+ success\/s\.$/);
    const udp4 = await stats('mode=udp4');
    const otUdp = mrtg(udp4.ot, /^opentracker udp4 stats, \d+ conns\/s :: \d+ success\/s\.$/);
    const swUdp = mrtg(udp4.sw, /^opentracker udp4 stats, \d+ conns\/s :: \d+ success\/s\.$/);
    t.diagnostic(`udp4: opentracker ${JSON.stringify(otUdp)}, swarmd ${JSON.stringify(swUdp)}`);
    const scrp = await stats('mode=scrp');
    const otScrp = mrtg(scrp.ot, /^opentracker scrape stats, \d+ scrape\/s \(tcp and udp\)$/);
    const swScrp = mrtg(scrp.sw, /^opentracker scrape stats, \d+ scrape\/s \(tcp and udp\)$/);
    t.diagnostic(`scrp: opentracker ${JSON.stringify(otScrp)}, swarmd ${JSON.stringify(swScrp)}`);
    // completed events since start: A 2 (HTTP), D 1 (UDP).
    const completed = await stats('mode=completed');
    assert.deepEqual(mrtg(completed.ot, /^opentracker, \d+ completed\/h\.$/), { a: 3, b: 0 });
    assert.deepEqual(mrtg(completed.sw, /^opentracker, \d+ completed\/h\.$/), { a: 3, b: 0 });

    // renew: 45 lines `NN count`; re-announces happen within a minute, so both totals agree.
    const renew = await stats('mode=renew');
    const renewRows = (text: string) => {
      const lines = text.split('\n');
      assert.equal(lines.pop(), '');
      assert.equal(lines.length, 45);
      return lines.map((line, i) => {
        assert.match(line, new RegExp(`^${String(i).padStart(2, '0')} \\d+$`));
        return Number(line.slice(3));
      });
    };
    const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
    const otRenew = renewRows(renew.ot);
    const swRenew = renewRows(renew.sw);
    t.diagnostic(`renew total: opentracker ${sum(otRenew)}, swarmd ${sum(swRenew)}`);
    assert.equal(sum(swRenew), sum(otRenew));

    // top10: by peers and by seeds the same; swarmd adds upstream's "by leechers".
    const top10 = await stats('mode=top10');
    const expectedTop = `Top 10 torrents by peers:\n\t210\t${HEX(B)}\n\t7\t${HEX(A)}\n\t2\t${HEX(D)}\nTop 10 torrents by seeds:\n\t4\t${HEX(A)}\n\t1\t${HEX(D)}\n`;
    assert.equal(top10.ot, expectedTop);
    assert.equal(
      top10.sw,
      `${expectedTop}Top 10 torrents by leechers:\n\t210\t${HEX(B)}\n\t3\t${HEX(A)}\n\t1\t${HEX(D)}\n`,
    );

    // s24s: peers per /28 and per /24 network.
    const s24s = await stats('mode=s24s');
    assert.equal(s24s.sw, s24s.ot);
    assert.match(s24s.ot, /^Networks, limit \/28:\n(\d{8}: [\d.]+\n)+\nNetworks, limit \/24:\n(\d{8}: [\d.]+\n)+\n$/);
    assert.match(s24s.ot, /\n00000001: 127\.0\.1\.0\n/);

    // statedump: the same hashes and downloaded counts; base (minutes since the epoch) near now on both.
    const nowMinutes = Math.floor(Date.now() / 60000);
    const dumpRows = (text: string) =>
      statedumpLines(text).map(([hash, base, downloaded]) => {
        assert.ok(Math.abs(Number(base) - nowMinutes) <= 2, `base ${base}, now ${nowMinutes}`);
        return `${hash}:${downloaded}`;
      });
    const dump = await stats('mode=statedump');
    assert.deepEqual(dumpRows(dump.ot), [`${HEX(A)}:2`, `${HEX(B)}:0`, `${HEX(D)}:1`]);
    assert.deepEqual(dumpRows(dump.sw), dumpRows(dump.ot));
    // Debian's opentracker always gzips statedump and tpbs (an inverted #ifdef); swarmd only when asked.
    assert.equal(dump.raw.ot.headers['content-encoding'], 'gzip');
    assert.equal(dump.raw.sw.headers['content-encoding'], undefined);
    const dumpGz = await stats('mode=statedump', 'Accept-Encoding: gzip\r\n');
    assert.equal(dumpGz.raw.ot.headers['content-encoding'], 'gzip');
    assert.equal(dumpGz.raw.sw.headers['content-encoding'], 'gzip');
    assert.deepEqual(dumpRows(dumpGz.sw), dumpRows(dump.ot));

    // tpbs in every format: the same text after gunzip (ben: the same figures).
    const figures = new Map([
      [hex(A), [4, 3, 2]],
      [hex(B), [0, 210, 0]],
      [hex(D), [1, 1, 1]],
    ]);
    const txt = await stats('mode=tpbs&format=txt');
    assert.equal(txt.ot, [...figures].map(([h, f]) => `${h.toUpperCase()}:${f[0]}:${f[1]}\n`).join(''));
    assert.equal(txt.sw, txt.ot);
    const txtp = await stats('mode=tpbs&format=txtp');
    assert.equal(txtp.ot, [...figures].map(([h, f]) => `${h.toUpperCase()}:${f.join(':')}\n`).join(''));
    assert.equal(txtp.sw, txtp.ot);
    // url: every byte escaped on both; opentracker writes lowercase hex digits, swarmd uppercase (RFC 3986's choice).
    const url = await stats('mode=tpbs&format=url');
    const urlLines = [...figures].map(([h, f]) => `${pct(Buffer.from(h, 'hex'))}:${f[0]}:${f[1]}\n`).join('');
    assert.equal(url.ot, urlLines.toLowerCase());
    assert.equal(url.sw, urlLines);
    const bin = await stats('mode=tpbs&format=bin');
    assert.equal(bin.raw.ot.plain.length, 28 * 3);
    assert.deepEqual(bin.raw.sw.plain, bin.raw.ot.plain);
    const ben = await stats('mode=tpbs&format=ben');
    assert.deepEqual(scrapeFiles(swDict(ben.raw.sw.plain)), scrapeFiles(otDict(ben.raw.ot.plain)));
    for (const mode of [txt, txtp, url, bin, ben]) {
      assert.equal(mode.raw.ot.headers['content-encoding'], 'gzip');
      assert.equal(mode.raw.sw.headers['content-encoding'], undefined);
    }

    // everything: every element of opentracker's document is in swarmd's, with the same deterministic figures.
    const every = await stats('mode=everything');
    const otX = xmlValues(every.ot);
    const swX = xmlValues(every.sw);
    // …but for four HTTP error labels: swarmd answers bad parameters with a failure reason (`200 Invalid
    // Parameter`), never 400 for them, and has no 402.
    const missing = [...otX.keys()].filter((k) => !swX.has(k));
    assert.deepEqual(
      missing,
      ['400 Invalid Parameter', '400 Invalid Parameter (compact=0)', '400 Not Modest', '402 Payment Required'].map(
        (code) => `stats/debug/http_error/count[${code}]`,
      ),
      'opentracker elements missing from swarmd',
    );
    for (const key of [
      'stats/torrents/count_mutex',
      'stats/torrents/count_iterator',
      'stats/peers/count',
      'stats/seeds/count',
      'stats/completed/count',
    ]) {
      assert.equal(swX.get(key), otX.get(key), key);
    }
    assert.deepEqual(
      [otX.get('stats/peers/count'), otX.get('stats/seeds/count'), otX.get('stats/completed/count')],
      ['219', '5', '3'],
    );
    for (const key of otX.keys()) {
      if (key !== 'stats/version') assert.match(otX.get(key) ?? '', /^\d+$/, `opentracker ${key}`);
    }
    assert.ok(every.ot.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<stats>\n'));
    assert.ok(every.sw.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<stats>\n'));
    assert.ok(every.ot.endsWith('</stats>') && every.sw.endsWith('</stats>'));

    // fscr: opentracker's counters are dead (always 0); swarmd counts. The layout is the same.
    const fscr = await stats('mode=fscr');
    assert.deepEqual(mrtg(fscr.ot, /^opentracker full scrape stats, 0 conns\/s :: 0 bytes\/s\.$/), { a: 0, b: 0 });
    const swFscr = mrtg(fscr.sw, /^opentracker full scrape stats, \d+ conns\/s :: \d+ bytes\/s\.$/);
    assert.ok(swFscr.a > 0 && swFscr.b > 0);
  });

  test('/stats: a mode opentracker lacks, an unknown mode, an address not allowed', async () => {
    // busy: opentracker 500 (compiled out); swarmd the busiest networks.
    const busy = await both(p, '/stats?mode=busy');
    assert.equal(busy.ot.status, 500);
    assert.equal(busy.sw.status, 200);
    const bogus = await both(p, '/stats?mode=bogus');
    assert.equal(bogus.ot.status, 400);
    assert.equal(bogus.sw.status, 400);
    // access.stats 127.0.0.1: a request from 127.0.0.2 is refused by both.
    const denied = await both(p, '/stats?mode=peer', { from: '127.0.0.2' });
    assert.equal(denied.ot.status, 403);
    assert.equal(denied.sw.status, 403);
    assert.equal(denied.ot.plain.toString(), '<title>Access Denied</title>\n');
  });

  test('GET / redirects to tracker.redirect_url; an unknown path is 404', async () => {
    const root = await both(p, '/');
    assert.equal(root.ot.status, 302);
    assert.equal(root.sw.status, 302);
    assert.equal(root.ot.headers.location, 'http://example.invalid/');
    assert.equal(root.sw.headers.location, root.ot.headers.location);
    for (const target of ['/nothing-here', '/stats/', '/xyz/announce']) {
      const r = await both(p, target);
      assert.equal(r.ot.status, 404, `opentracker ${target}`);
      assert.equal(r.sw.status, 404, `swarmd ${target}`);
    }
  });
});

// ===============================================================================================================

/** Whitelist lines with their hash, and whether opentracker takes the hash from the line. */
const ODD_LINES: [Buffer, string, boolean][] = [
  [hashOf(0xe1), `${hex(hashOf(0xe1))} trailing text`, true],
  [hashOf(0xe2), `${HEX(hashOf(0xe2))}\r`, true],
  [hashOf(0xe3), hex(hashOf(0xe3)).slice(0, 38), false],
  [hashOf(0xe4), `${hex(hashOf(0xe4))}0`, false],
  [hashOf(0xe5), `   ${hex(hashOf(0xe5))}`, false],
  [hashOf(0xe6), `${hex(hashOf(0xe6))}\t# comment`, true],
  [hashOf(0xe7), `${hex(hashOf(0xe7))}g`, true],
  [hashOf(0xe8), `# ${hex(hashOf(0xe8))}`, false],
  [hashOf(0xe9), `0x${hex(hashOf(0xe9))}`, false],
  [hashOf(0xea), `${hex(hashOf(0xea)).slice(0, 20)} ${hex(hashOf(0xea)).slice(20)}`, false],
  [hashOf(0xeb), `${hex(hashOf(0xeb))};${hex(hashOf(0xec))}`, true],
  [hashOf(0xec), '', false], // only after another hash on the line above
];

describe('opentracker and swarmd without access.stats: where their defaults differ', { skip }, () => {
  let pair: Pair | undefined;
  let p: Pair;
  before(async () => {
    const files = {
      'opentracker.conf': conf(['access.whitelist whitelist.txt', 'access.stats_path ot-stats']),
      'whitelist.txt': WHITELIST + ODD_LINES.map(([, line]) => line).join('\n'),
    };
    pair = await startPair(files);
    p = pair;
  });
  after(async () => {
    await stopPair(pair);
  });

  test('stats from loopback: opentracker 403, swarmd allows loopback when no stats network is set', async () => {
    // access.stats_path ot-stats: /stats is nothing on both.
    const old = await both(p, '/stats?mode=torr');
    assert.deepEqual([old.ot.status, old.sw.status], [404, 404]);
    const r = await both(p, '/ot-stats?mode=torr');
    assert.equal(r.ot.status, 403);
    assert.equal(r.sw.status, 200);
    assert.equal(r.sw.plain.toString(), '0\n0\nopentracker serving 0 torrents\nopentracker');
    // swarmd's default is 127.0.0.0/8 and ::1: every address these tests can use, so no refusal can be shown here.
  });

  test('whitelist file: the same lines give a hash (comments, trailing text, CRLF, case, bad lines)', async () => {
    for (const [hash, line, taken] of ODD_LINES) {
      const r = await both(p, announceUrl({ hash, port: 9601, numwant: 0 }));
      const refused = (x: Reply) => x.plain.toString().includes(REFUSED);
      assert.equal(refused(r.ot), !taken, `opentracker, line ${JSON.stringify(line)}`);
      assert.equal(refused(r.sw), !taken, `swarmd, line ${JSON.stringify(line)}`);
    }
  });

  test('no redirect_url: GET / is 404 on both', async () => {
    const r = await both(p, '/');
    assert.equal(r.ot.status, 404);
    assert.equal(r.sw.status, 404);
  });

  test('full scrape: opentracker answers it, swarmd refuses it without --full-scrape', async () => {
    await announceBoth(p, { hash: A, port: 9001 });
    const r = await both(p, '/scrape');
    assert.equal(r.ot.status, 200);
    const torrents = [A, ...ODD_LINES.filter(([, , taken]) => taken).map(([h]) => h)];
    assert.deepEqual([...scrapeFiles(otDict(r.ot.plain)).keys()], sorted(torrents.map(hex)));
    assert.equal(r.sw.status, 200);
    const sw = swDict(r.sw.plain);
    assert.deepEqual(Object.keys(sw), ['failure reason']);
    assert.equal(
      bytes(sw, 'failure reason').toString(),
      'full scrape is disabled on this tracker: give at least one info_hash',
    );
  });

  test('announce parameters each tracker reads differently', async () => {
    const hashQ = `info_hash=${pct(C)}`;
    const peerId = `peer_id=${pct(Buffer.from('-DF0001-000000000000'))}`;
    const reason = (r: Reply, dict: (b: Buffer) => BDict) => {
      const v = dict(r.plain)['failure reason'];
      return v instanceof Uint8Array ? Buffer.from(v).toString() : undefined;
    };
    // No peer_id: opentracker does not need one; swarmd refuses.
    const noPeerId = await both(p, `/announce?${hashQ}&port=9101&left=0`);
    assert.equal(reason(noPeerId.ot, otDict), undefined);
    assert.equal(int(otDict(noPeerId.ot.plain), 'complete'), 1);
    assert.equal(reason(noPeerId.sw, swDict), 'missing peer_id');
    // No port: opentracker stores the peer with port 0; swarmd refuses.
    const noPort = await both(p, `/announce?${hashQ}&${peerId}&left=0`);
    assert.equal(reason(noPort.ot, otDict), undefined);
    assert.ok(peerList(bytes(otDict(noPort.ot.plain), 'peers')).includes(`${HOST}:0`));
    assert.equal(reason(noPort.sw, swDict), 'missing port');
    // No info_hash: each its own failure reason.
    const noHash = await both(p, `/announce?${peerId}&port=9102`);
    assert.equal(
      reason(noHash.ot, otDict),
      "Your client forgot to send your torrent's info_hash. Please upgrade your client.",
    );
    assert.equal(reason(noHash.sw, swDict), 'missing info_hash');
    // No query at all: opentracker 400, swarmd the failure reason.
    const bare = await both(p, '/announce');
    assert.equal(bare.ot.status, 400);
    assert.equal(bare.sw.status, 200);
    assert.equal(reason(bare.sw, swDict), 'missing info_hash');
    // compact=0: opentracker 400; swarmd the dictionary model.
    const dictModel = await both(p, `/announce?${hashQ}&${peerId}&port=9103&left=5&compact=0`);
    assert.equal(dictModel.ot.status, 400);
    assert.equal(dictModel.sw.status, 200);
    assert.ok(Array.isArray(swDict(dictModel.sw.plain).peers));
    // Six hashes in one scrape: both answer (up to 64 by default).
    const six = [A, B, C, D, X, hashOf(0x11)].map((h) => `info_hash=${pct(h)}`).join('&');
    const scrape = await both(p, `/scrape?${six}`);
    assert.equal(scrape.ot.status, 200);
    assert.ok(scrapeFiles(otDict(scrape.ot.plain)).has(hex(A)));
    assert.equal(scrape.sw.status, 200);
    assert.ok(scrapeFiles(swDict(scrape.sw.plain)).has(hex(A)));
    // Any path starting with `a` is an announce to opentracker; swarmd knows /announce only.
    const aPath = await both(p, `/a?${hashQ}&${peerId}&port=9104`);
    assert.equal(aPath.ot.status, 200);
    assert.equal(aPath.sw.status, 404);
    // Error framing: opentracker HTTP/1.0 text/html `<title>…</title>`, swarmd HTTP/1.1 text/plain.
    const missing = await both(p, '/nothing');
    assert.equal(missing.ot.version, 'HTTP/1.0');
    assert.equal(missing.ot.headers['content-type'], 'text/html');
    assert.equal(missing.ot.plain.toString(), '<title>Not Found</title>\n');
    assert.equal(missing.sw.version, 'HTTP/1.1');
    assert.equal(missing.sw.headers['content-type'], 'text/plain');
  });

  test('more announce and scrape parameters read differently; ip= ignored by both', async () => {
    const peerId = `peer_id=${pct(Buffer.from('-DF0002-000000000000'))}`;
    const reason = (r: Reply, dict: (b: Buffer) => BDict) => {
      const v = dict(r.plain)['failure reason'];
      return v instanceof Uint8Array ? Buffer.from(v).toString() : undefined;
    };
    // ip= (WANT_IP_FROM_QUERY_STRING is off in Debian; swarmd needs --ip-from-query): the socket address is used.
    await announceBoth(p, { hash: D, port: 9301, extra: '&ip=10.1.2.3' });
    const seen = await announceBoth(p, { hash: D, port: 9302 });
    assert.deepEqual(sorted(peerList(bytes(seen.ot, 'peers'))), [`${HOST}:9301`, `${HOST}:9302`]);
    assert.deepEqual(peerList(bytes(seen.sw, 'peers')), [`${HOST}:9301`]);
    // event=stopped for a hash not on the whitelist: opentracker answers as for any stop, swarmd refuses.
    const stopX = await both(p, announceUrl({ hash: X, port: 9303, event: 'stopped' }));
    assert.equal(reason(stopX.ot, otDict), undefined);
    assert.equal(int(otDict(stopX.ot.plain), 'complete'), 0);
    assert.equal(reason(stopX.sw, swDict), REFUSED);
    // An unknown event: opentracker ignores it, swarmd refuses it.
    const bogus = await both(p, announceUrl({ hash: D, port: 9304, event: 'bogus' }));
    assert.equal(reason(bogus.ot, otDict), undefined);
    assert.equal(reason(bogus.sw, swDict), 'invalid event: use started, completed, stopped or paused');
    // left=abc: opentracker takes the peer as a seeder, swarmd refuses.
    const leftAbc = await both(p, `/announce?info_hash=${pct(D)}&${peerId}&port=9305&left=abc`);
    assert.equal(reason(leftAbc.ot, otDict), undefined);
    assert.equal(int(otDict(leftAbc.ot.plain), 'complete'), 1);
    assert.equal(reason(leftAbc.sw, swDict), 'invalid left: it must be a non-negative number');
    // left=2^32: opentracker's int wraps to 0 and makes a seeder; swarmd a leecher.
    const leftBig = await both(p, `/announce?info_hash=${pct(B)}&${peerId}&port=9308&left=4294967296`);
    assert.deepEqual([int(otDict(leftBig.ot.plain), 'complete'), int(otDict(leftBig.ot.plain), 'incomplete')], [1, 0]);
    assert.deepEqual([int(swDict(leftBig.sw.plain), 'complete'), int(swDict(leftBig.sw.plain), 'incomplete')], [0, 1]);
    // port=70000 and a 19-byte info_hash: opentracker 400, swarmd a failure reason.
    const bigPort = await both(p, `/announce?info_hash=${pct(D)}&${peerId}&port=70000`);
    assert.equal(bigPort.ot.status, 400);
    assert.equal(reason(bigPort.sw, swDict), 'invalid port: it must be a number from 1 to 65535');
    const shortHash = await both(p, `/announce?info_hash=${pct(D.subarray(0, 19))}&${peerId}&port=9309`);
    assert.equal(shortHash.ot.status, 400);
    assert.equal(reason(shortHash.sw, swDict), 'invalid info_hash: it must be 20 bytes, percent-encoded');
    const shortScrape = await both(p, `/scrape?info_hash=${pct(D.subarray(0, 19))}`);
    assert.equal(shortScrape.ot.status, 400);
    assert.equal(reason(shortScrape.sw, swDict), 'invalid info_hash: it must be 20 bytes, percent-encoded');
    // numwant=abc: opentracker 400, swarmd a failure reason.
    const numwantAbc = await both(p, `/announce?info_hash=${pct(D)}&${peerId}&port=9306&numwant=abc`);
    assert.equal(numwantAbc.ot.status, 400);
    assert.equal(reason(numwantAbc.sw, swDict), 'invalid numwant: it must be a number');
    // /scrape? with nothing: opentracker 400; swarmd the full-scrape refusal (or the full scrape with --full-scrape).
    const emptyScrape = await both(p, '/scrape?');
    assert.equal(emptyScrape.ot.status, 400);
    assert.equal(
      reason(emptyScrape.sw, swDict),
      'full scrape is disabled on this tracker: give at least one info_hash',
    );
    // /scrape.php and /%61nnounce: opentracker routes by prefix and decodes the path; swarmd 404.
    const php = await both(p, `/scrape.php?info_hash=${pct(D)}`);
    assert.equal(php.ot.status, 200);
    assert.equal(php.sw.status, 404);
    const escaped = await both(p, `/%61nnounce?info_hash=${pct(D)}&${peerId}&port=9307`);
    assert.equal(escaped.ot.status, 200);
    assert.equal(escaped.sw.status, 404);
    // A stats URL pasted as an announce URL: Debian's opentracker ignores info_hash, swarmd refuses (as upstream).
    const statsHash = await both(p, `/ot-stats?mode=torr&info_hash=${pct(D)}`);
    assert.equal(statsHash.ot.status, 403); // no access.stats in this pair
    assert.equal(statsHash.sw.status, 400);
  });

  test('keep-alive: opentracker closes after every reply, swarmd answers pipelined requests', async () => {
    const target = `/scrape?info_hash=${pct(A)}`;
    const twice = `GET ${target} HTTP/1.1\r\nHost: t\r\n\r\nGET ${target} HTTP/1.1\r\nHost: t\r\n\r\n`;
    const count = async (side: Side) =>
      new Promise<number>((resolve, reject) => {
        const socket = net.connect({ host: side.host, port: side.port });
        let data = Buffer.alloc(0);
        let n = 0;
        const timer = setTimeout(() => {
          socket.destroy();
          resolve(n);
        }, 1000);
        socket.on('data', (chunk) => {
          data = Buffer.concat([data, chunk]);
          for (let r = parseResponse(data); r !== null; r = parseResponse(data)) {
            n++;
            data = data.subarray(r.end);
          }
          if (n === 2) {
            clearTimeout(timer);
            socket.destroy();
            resolve(n);
          }
        });
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(n);
        });
        socket.on('error', reject);
        socket.write(twice);
      });
    assert.equal(await count(p.ot), 1);
    assert.equal(await count(p.sw), 2);
  });

  test('HEAD and POST: opentracker 400 and closes; swarmd 405, with no body for HEAD (RFC 9110 §9.3.2)', async () => {
    const read = (side: Side, request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect({ host: side.host, port: side.port });
        let data = '';
        const timer = setTimeout(() => {
          socket.destroy();
          resolve(data);
        }, 300);
        socket.on('data', (chunk) => {
          data += chunk.toString('latin1');
        });
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(data);
        });
        socket.on('error', reject);
        socket.write(request);
      });
    const post = 'POST /announce HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n';
    assert.match(await read(p.ot, post), /^HTTP\/1\.0 400 Invalid Request\r\n/);
    assert.match(await read(p.sw, post), /^HTTP\/1\.1 405 Method Not Allowed\r\n(.*\r\n)*Allow: GET\r\n/);
    // HEAD, then a GET on the same connection: opentracker answers the first (400) and closes.
    const pipelined = 'HEAD /announce HTTP/1.1\r\nHost: t\r\n\r\nGET /nothing HTTP/1.1\r\nHost: t\r\n\r\n';
    const ot = await read(p.ot, pipelined);
    assert.match(ot, /^HTTP\/1\.0 400 Invalid Request\r\n/);
    assert.equal(ot.split('HTTP/1.').length - 1, 1);
    // swarmd keeps the connection: after the 405 head must come the 404, not a body a HEAD client will not read.
    const sw = await read(p.sw, pipelined);
    assert.match(sw, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    const afterHead = sw.slice(sw.indexOf('\r\n\r\n') + 4);
    assert.match(afterHead, /^HTTP\/1\.1 404 Not Found\r\n/, `after the HEAD reply: ${JSON.stringify(afterHead)}`);
  });

  test('UDP requests each tracker reads differently', async () => {
    for (const side of [p.ot, p.sw]) {
      const ot = side.name === 'opentracker';
      const udp = new Udp(side);
      try {
        const id = await udp.connect();
        // Port 0: opentracker stores ip:0; swarmd refuses with an error packet.
        const port0 = udp.announceMessage(id, { hash: D, port: 0, left: 5n, numwant: 0 });
        const r0 = await udp.request(port0.msg);
        assert.ok(r0 !== null);
        if (ot) assert.deepEqual([r0.readUInt32BE(0), r0.length], [1, 20]);
        else assert.deepEqual([r0.readUInt32BE(0), r0.subarray(8).toString()], [3, 'invalid port']);
        // stopped for a hash not whitelisted: opentracker a normal 20-byte reply, swarmd the refusal.
        const stopX = udp.announceMessage(id, { hash: X, port: 9401, left: 5n, event: 3 });
        const rs = await udp.request(stopX.msg);
        assert.ok(rs !== null);
        if (ot) assert.deepEqual([rs.readUInt32BE(0), rs.length], [1, 20]);
        else assert.deepEqual([rs.readUInt32BE(0), rs.subarray(8).toString()], [3, REFUSED]);
        // A scrape with no hash: opentracker an empty scrape reply (8 bytes), swarmd an error packet.
        const none = udp.scrapeMessage(id, []);
        const rn = await udp.request(none.msg);
        assert.ok(rn !== null);
        if (ot) assert.deepEqual([rn.readUInt32BE(0), rn.length], [2, 8]);
        else assert.equal(rn.readUInt32BE(0), 3);
        // 80 hashes: opentracker answers 75, swarmd 74.
        const many = udp.scrapeMessage(
          id,
          Array.from({ length: 80 }, () => D),
        );
        const rm = await udp.request(many.msg);
        assert.ok(rm !== null);
        assert.equal(rm.readUInt32BE(0), 2);
        assert.equal((rm.length - 8) / 12, ot ? 75 : 74);
        // An announce one byte short (97): opentracker drops it, swarmd answers with an error packet.
        const short = udp.announceMessage(id, { hash: D, port: 9402, left: 5n }).msg.subarray(0, 97);
        const rshort = await udp.request(short, ot ? 300 : 2000);
        if (ot) assert.equal(rshort, null);
        else assert.equal(rshort?.readUInt32BE(0), 3);
      } finally {
        udp.close();
      }
    }
  });
});

// ===============================================================================================================

describe('opentracker and swarmd loading the same statedump (-l)', { skip }, () => {
  const S1 = hashOf(0x51);
  const S2 = hashOf(0x52); // downloaded 0
  const S3 = hashOf(0x53);
  const OLD = hashOf(0x54); // last active 3 days ago: past both trackers' 24 h for a torrent without peers
  const NOT_LISTED = hashOf(0x5f);
  const base = Math.floor(Date.now() / 60000) - 5;
  const rows = [
    `${HEX(S1)}:${base}:7`,
    `${HEX(NOT_LISTED)}:${base}:3`,
    `${HEX(S2)}:${base}:0`,
    `${HEX(OLD)}:${base - 3 * 24 * 60}:4`,
    `${HEX(S3)}:${base}:12345`,
  ];
  /**
   * opentracker reads `-l` while its whitelist is still loading in another thread, so a short file loads nothing
   * (research §8.5). Lines of hashes that are not whitelisted first give the whitelist time; both trackers refuse
   * them, as they refuse NOT_LISTED.
   */
  const PADDING = 50_000;
  let padding = '';
  for (let i = 0; i < PADDING; i++) {
    padding += `${(0xe0000000 + i).toString(16).toUpperCase().padStart(40, 'E')}:${base}:1\n`;
  }
  const files = {
    'opentracker.conf': conf(['access.whitelist whitelist.txt', 'access.stats 127.0.0.1']),
    'whitelist.txt': `${[S1, S2, S3, OLD].map(hex).join('\n')}\n`,
    'state.txt': `${padding}${rows.join('\n')}\n`,
  };
  let pair: Pair | undefined;
  let p: Pair;
  /** opentracker's first statedump, taken as soon as it was up. */
  let otFirst: Map<string, string> = new Map();
  let otAttempts = 0;

  /** A statedump as HEX → `base:downloaded`. */
  const dumpRows = (text: string): Map<string, string> =>
    new Map(statedumpLines(text).map(([hash, base, downloaded]) => [hash, `${base}:${downloaded}`]));
  const dump = async (side: Side) => dumpRows((await httpGet(side, '/stats?mode=statedump')).plain.toString('latin1'));

  before(async () => {
    // opentracker's race can still lose: start again (up to 3 times) until it has loaded the file.
    for (otAttempts = 1; otAttempts <= 3; otAttempts++) {
      await stopPair(pair);
      pair = await startPair(files, ['-l', 'state.txt']);
      otFirst = await dump(pair.ot);
      if (otFirst.size > 0) break;
    }
    p = pair!;
  });
  after(async () => {
    await stopPair(pair);
  });

  test('/stats?mode=statedump: the same hashes, base and downloaded; the not-whitelisted ones absent', async (t) => {
    t.diagnostic(`opentracker attempts: ${otAttempts}, loaded ${otFirst.size} torrents`);
    const sw = await dump(p.sw);
    const check = (rows: Map<string, string>, who: string) => {
      // Both keep the file's base and count.
      assert.equal(rows.get(HEX(S1)), `${base}:7`, who);
      assert.equal(rows.get(HEX(S3)), `${base}:12345`, who);
      assert.equal(rows.has(HEX(NOT_LISTED)), false, who);
      // A torrent without peers or downloads, and one long idle, are loaded and then dropped on the tracker's own
      // schedule (swarmd's sweeper runs every second): present or not, but nothing else.
      for (const [h, v] of rows) {
        if (h === HEX(S2)) assert.equal(v, `${base}:0`, who);
        else if (h === HEX(OLD)) assert.equal(v, `${base - 3 * 24 * 60}:4`, who);
        else assert.ok(h === HEX(S1) || h === HEX(S3), `${who}: ${h}`);
      }
    };
    check(sw, 'swarmd');
    if (otFirst.size === 0) {
      t.diagnostic('opentracker loaded nothing (its -l/whitelist race); swarmd was compared with the file');
      return;
    }
    check(otFirst, 'opentracker');
  });

  test('loaded torrents scrape with their downloaded counts; a touch drops the idle ones', async () => {
    const hashes = [S1, S2, S3, OLD, NOT_LISTED];
    const r = await both(p, `/scrape?${hashes.map((h) => `info_hash=${pct(h)}`).join('&')}`);
    const sw = scrapeFiles(swDict(r.sw.plain));
    const ot = scrapeFiles(otDict(r.ot.plain));
    const zero = { complete: 0, downloaded: 0, incomplete: 0 };
    assert.deepEqual(sw.get(hex(S1)), { ...zero, downloaded: 7 });
    assert.deepEqual(sw.get(hex(S3)), { ...zero, downloaded: 12345 });
    assert.equal(sw.has(hex(NOT_LISTED)), false);
    // Whitelisted but not (or no longer) a torrent: zeros from swarmd.
    assert.deepEqual(sw.get(hex(S2)), zero);
    assert.deepEqual(sw.get(hex(OLD)), zero);
    if (otFirst.size > 0) {
      // opentracker drops OLD on this touch (24 h without peers) but keeps S2 (a torrent without downloads stays
      // 45 min after its last activity), so S2 is listed with zeros and OLD omitted.
      assert.deepEqual(
        sorted(ot.keys()),
        sorted([S1, S2, S3].map(hex)),
        'opentracker scrape after loading the statedump',
      );
      for (const h of [S1, S2, S3]) assert.deepEqual(ot.get(hex(h)), sw.get(hex(h)));
    }
    // After the touch: swarmd keeps only the torrents with downloads; opentracker S2 too.
    assert.deepEqual(sorted((await dump(p.sw)).keys()), sorted([S1, S3].map(HEX)));
    if (otFirst.size > 0) assert.deepEqual(sorted((await dump(p.ot)).keys()), sorted([S1, S2, S3].map(HEX)));
    // An announce continues the count.
    const a = await announceBoth(p, { hash: S1, port: 9201, left: 0, event: 'completed' });
    assert.equal(int(a.sw, 'downloaded'), 8);
    if (otFirst.size > 0) assert.equal(int(a.ot, 'downloaded'), 8);
  });
});

// ===============================================================================================================

describe('opentracker and swarmd with short flags instead of a config file (-w -A -r)', { skip }, () => {
  let pair: Pair | undefined;
  let p: Pair;
  before(async () => {
    const flags = ['-w', 'whitelist.txt', '-A', HOST, '-r', 'http://example.invalid/r'];
    pair = await startPair({ 'whitelist.txt': WHITELIST }, flags);
    p = pair;
  });
  after(async () => {
    await stopPair(pair);
  });

  test('-w: the whitelist applies; -r: GET / redirects; -A: /stats from that address only', async () => {
    const ok = await announceBoth(p, { hash: A, port: 9501 });
    assert.equal(int(ok.ot, 'incomplete'), 1);
    assert.equal(int(ok.sw, 'incomplete'), 1);
    const refused = await both(p, announceUrl({ hash: X, port: 9501 }));
    assert.equal(refused.ot.plain.toString(), refused.sw.plain.toString());
    assert.match(refused.ot.plain.toString(), /^d14:failure reason63:Requested download is not authorized/);
    const root = await both(p, '/');
    assert.deepEqual([root.ot.status, root.ot.headers.location], [302, 'http://example.invalid/r']);
    assert.deepEqual([root.sw.status, root.sw.headers.location], [302, 'http://example.invalid/r']);
    const stats = await both(p, '/stats?mode=peer');
    assert.equal(stats.ot.status, 200);
    assert.equal(stats.sw.plain.toString(), stats.ot.plain.toString());
    const denied = await both(p, '/stats?mode=peer', { from: '127.0.0.2' });
    assert.deepEqual([denied.ot.status, denied.sw.status], [403, 403]);
  });

  test('-A also trusts X-Forwarded-For from that address in swarmd; Debian opentracker has no proxy support', async () => {
    const headers = 'X-Forwarded-For: 10.9.8.7\r\n';
    for (const side of [p.ot, p.sw]) {
      const r = await httpGet(side, announceUrl({ hash: B, port: 9502 }), { headers });
      assert.equal(r.status, 200);
    }
    const seen = await announceBoth(p, { hash: B, port: 9503 });
    assert.deepEqual(sorted(peerList(bytes(seen.ot, 'peers'))), [`${HOST}:9502`, `${HOST}:9503`]);
    assert.deepEqual(peerList(bytes(seen.sw, 'peers')), ['10.9.8.7:9502']);
  });

  test('a torrent whose last peer stops without a download: opentracker keeps it (45 min), swarmd drops it', async () => {
    await announceBoth(p, { hash: F, port: 9503 });
    const stop = await both(p, announceUrl({ hash: F, port: 9503, event: 'stopped' }));
    assert.equal(int(otDict(stop.ot.plain), 'incomplete'), 0);
    assert.equal(int(swDict(stop.sw.plain), 'incomplete'), 0);
    const torr = await both(p, '/stats?mode=torr');
    assert.equal(torr.ot.plain.toString(), '3\n0\nopentracker serving 3 torrents\nopentracker');
    assert.equal(torr.sw.plain.toString(), '2\n0\nopentracker serving 2 torrents\nopentracker');
    const r = await both(p, `/scrape?info_hash=${pct(F)}`);
    assert.deepEqual(scrapeFiles(otDict(r.ot.plain)).get(hex(F)), { complete: 0, downloaded: 0, incomplete: 0 });
    assert.deepEqual(scrapeFiles(swDict(r.sw.plain)).get(hex(F)), { complete: 0, downloaded: 0, incomplete: 0 });
  });
});

// ===============================================================================================================

describe('opentracker and swarmd: -v, -h and a bad option', { skip }, () => {
  const run = (argv0: string[], flag: string) => {
    const r = spawnSync(argv0[0], [...argv0.slice(1), flag], { encoding: 'utf8', timeout: 10_000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const ot = () => [OPENTRACKER];
  const sw = () => [process.execPath, path.join(REPO_ROOT, 'src/main.ts')];

  test('-v and -h exit 0 on both; a bad option exits 1 (opentracker) and 2 (swarmd)', () => {
    const otVersion = run(ot(), '-v');
    const swVersion = run(sw(), '-v');
    assert.equal(otVersion.status, 0);
    assert.equal(swVersion.status, 0);
    assert.match(otVersion.out, /\$Source\$: \$Revision\$/); // Debian's unexpanded CVS keywords
    assert.match(swVersion.out, /^swarmd \d+\.\d+\.\d+/);
    const otHelp = run(ot(), '-h');
    const swHelp = run(sw(), '-h');
    assert.equal(otHelp.status, 0);
    assert.equal(swHelp.status, 0);
    assert.match(otHelp.out, /^Usage: \S*opentracker /);
    assert.match(swHelp.out, /-i ADDR/);
    const otBad = run(ot(), '-x');
    const swBad = run(sw(), '-x');
    assert.equal(otBad.status, 1);
    assert.equal(swBad.status, 2);
  });
});
