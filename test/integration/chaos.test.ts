// swarmd killed with SIGKILL in the middle of a continuous announce load, then restarted on the same --state-file:
// two workers, HTTP and UDP, IPv4 and IPv6, new torrents and peers and `completed` events all the time. Every announce
// answered before the last save that began before the kill must come back (its torrent, its peer, its download),
// nothing that was never announced may appear, and what is lost spans at most one --state-interval (plus that save's
// own time). operator.test.ts checks the plain kill -9 of an idle tracker; this one is about load and that bound.
//
// A save is seen in swarmd's log ('state saved', with `time` when it was written and `ms` it took): the snapshot
// began at or after time − ms, and a worker publishes an announce to the others before it answers, so an announce
// whose reply came back before then is in that save and in every later one.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BDict, decode } from '../../src/protocol/bencode.ts';
import { freePort } from '../helpers/ports.ts';
import { compactPeers, parseResponse, pct, type Swarmd, spawnSwarmd, UdpClient } from '../helpers/swarmd.ts';

const INTERVAL_MS = 1000;
/** Saves seen during the load before the kill. */
const SAVES_BEFORE_KILL = 3;
/** The kill comes this long after a save was seen: mid-interval, so the last announces are not saved yet. */
const KILL_AFTER_SAVE_MS = 500;
/** Peers per torrent (both families), under --max-peers (200) so that one announce returns every one of them. */
const PEERS_PER_TORRENT = 100;
/** Late by this much (a loaded machine's timers and pipes), a save still counts as on time. */
const SCHEDULING_SLACK_MS = 250;
/**
 * Requests from one address stay few: IPv4 load comes from a new loopback address for every HTTP peer and every 50 UDP
 * announces, and ::1 sends at most this many, so that no per-address rate limit (default burst 200) refuses any.
 */
const UDP_PER_ADDRESS = 50;
const MAX_FROM_IPV6 = 80;
/** Each IPv4 loop sends at most one announce this often (six loops: about 2,000 a second), leaving CPU to the tests beside. */
const LOOP_PERIOD_MS = 3;
/** ::1 sends one announce this often, until MAX_FROM_IPV6. */
const IPV6_PERIOD_MS = 25;

const hashOf = (t: number) => {
  const h = Buffer.alloc(20, 0xc4);
  h.writeUInt32BE(t, 0);
  return h;
};

interface Sent {
  torrent: number;
  endpoint: string;
  completed: boolean;
  /** Date.now() when the valid reply came back; null while unanswered (or never). */
  answeredAt: number | null;
}

interface Save {
  time: number;
  ms: number;
}

/** The load: it records every announce it sends and when its reply came back. */
class Load {
  readonly sent: Sent[] = [];
  stopped = false;
  private nextPeer = 0;
  private ipv6Sent = 0;
  private readonly port: number;
  private readonly loops: Promise<void>[] = [];

  constructor(port: number) {
    this.port = port;
  }

  start(): void {
    for (let i = 0; i < 3; i++) this.loops.push(this.httpLoop(), this.udpLoop('127.0.0.1', i));
    this.loops.push(this.udpLoop('::1', 0));
  }

  /** Stops sending at once; resolves when the requests under way have ended (the tracker is dead: they fail). */
  stop(): Promise<void> {
    this.stopped = true;
    return Promise.all(this.loops).then(() => {});
  }

  private newPeer(): number {
    return this.nextPeer++;
  }

  private torrentOf(peer: number): number {
    return Math.floor(peer / PEERS_PER_TORRENT);
  }

  /** Waits until the `n`th request of a loop that began at `since` and sends one every `periodMs` is due. */
  private async pace(since: number, n: number, periodMs: number): Promise<void> {
    const wait = since + n * periodMs - performance.now();
    if (wait > 0) await sleep(wait);
  }

  /** Each HTTP peer from an address of its own: `started` as a leecher, and for one in three `completed` after. */
  private async httpLoop(): Promise<void> {
    const leechers: { peer: number; source: string }[] = [];
    const since = performance.now();
    for (let n = 0; !this.stopped; n++) {
      await this.pace(since, n, LOOP_PERIOD_MS);
      const completing = leechers.length > 0 && Math.random() < 1 / 3;
      let next = leechers.shift();
      if (!completing || next === undefined) {
        if (next !== undefined) leechers.unshift(next);
        const peer = this.newPeer();
        next = { peer, source: `127.1.${Math.floor(peer / 250) % 250}.${(peer % 250) + 1}` };
      }
      const { peer, source } = next;
      const torrent = this.torrentOf(peer);
      const record: Sent = { torrent, endpoint: `${source}:6881`, completed: completing, answeredAt: null };
      this.sent.push(record);
      const target =
        `/announce?info_hash=${pct(hashOf(torrent))}&peer_id=-CH0001-${String(peer).padStart(12, '0')}` +
        `&port=6881&uploaded=0&downloaded=0&left=${completing ? 0 : 1000}&compact=1&numwant=5` +
        `&event=${completing ? 'completed' : 'started'}`;
      const reply = await httpGet(source, this.port, target).catch(() => null);
      if (reply === null || this.stopped) continue;
      assert.equal(reply['failure reason'], undefined, `announce refused: ${reply['failure reason']}`);
      record.answeredAt = Date.now();
      if (!completing && Math.random() < 1 / 3) leechers.push({ peer, source });
    }
  }

  /** One BEP 15 client per address for UDP_PER_ADDRESS announces, then the next address; ports tell its peers apart. */
  private async udpLoop(host: string, index: number): Promise<void> {
    const v6 = host.includes(':');
    const since = performance.now();
    let n = 0;
    for (let round = 0; !this.stopped; round++) {
      const client = new UdpClient(host, this.port);
      const source = v6 ? '::1' : `127.2.${index}.${(round % 250) + 1}`;
      try {
        await new Promise<void>((bound) => client.socket.bind({ address: source, port: 0 }, bound));
        const id = await client.connect();
        const leechers: number[] = [];
        for (let k = 0; k < UDP_PER_ADDRESS && !this.stopped; k++) {
          if (v6 && this.ipv6Sent >= MAX_FROM_IPV6) return;
          await this.pace(since, n++, v6 ? IPV6_PERIOD_MS : LOOP_PERIOD_MS);
          const completing = leechers.length > 0 && Math.random() < 1 / 3;
          const peer = completing ? (leechers.shift() as number) : this.newPeer();
          const port = 10000 + (peer % 50000);
          const torrent = this.torrentOf(peer);
          const endpoint = v6 ? `[::1]:${port}` : `${source}:${port}`;
          const record: Sent = { torrent, endpoint, completed: completing, answeredAt: null };
          this.sent.push(record);
          if (v6) this.ipv6Sent++;
          const msg = client.announceMessage(id, {
            hash: hashOf(torrent),
            port,
            left: completing ? 0n : 1000n,
            event: completing ? 1 : 2,
            numwant: 5,
          });
          const reply = await client.request(msg, 1000);
          if (reply === null || this.stopped) continue;
          assert.equal(reply.readUInt32BE(0), 1, `not an announce reply: ${reply.subarray(8).toString()}`);
          record.answeredAt = Date.now();
          if (!completing && Math.random() < 1 / 3) leechers.push(peer);
        }
      } catch (err) {
        if (!this.stopped) throw err;
      } finally {
        client.close();
      }
    }
  }
}

/** GET `target` from `source` on a connection of its own; the bencoded reply. */
function httpGet(source: string, port: number, target: string): Promise<BDict> {
  const host = source.includes(':') ? '::1' : '127.0.0.1';
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress: source });
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(new Error(`no reply to ${target} within 5 s`)), 5000);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const parsed = parseResponse(data);
      if (parsed === null) return;
      clearTimeout(timer);
      socket.destroy();
      if (parsed.response.status !== 200) reject(new Error(`HTTP ${parsed.response.status} to ${target}`));
      else resolve(decode(parsed.response.body) as BDict);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // A tracker killed mid-request closes without an error; after a reply this does nothing.
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`connection closed before the reply to ${target}`));
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  });
}

/** The 'state saved' lines of `log` (whole lines only: the last may still be arriving). */
function saves(log: string): Save[] {
  return log
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.includes('"state saved"'))
    .map((line) => JSON.parse(line) as Save);
}

/** What the tracker holds for `torrent`: every peer (one announce asks for all) and the scrape's counts. */
async function holdings(port: number, torrent: number, asker: number) {
  const source = `127.3.${Math.floor(asker / 250)}.${(asker % 250) + 1}`;
  const hash = pct(hashOf(torrent));
  const reply = await httpGet(
    source,
    port,
    `/announce?info_hash=${hash}&peer_id=-CHECK0-${String(asker).padStart(12, '0')}&port=1&uploaded=0&downloaded=0&left=1&compact=1&numwant=200`,
  );
  const peers = new Set([
    ...compactPeers((reply.peers as Uint8Array | undefined) ?? new Uint8Array(), 6),
    ...compactPeers((reply.peers6 as Uint8Array | undefined) ?? new Uint8Array(), 18).map((p) => {
      const colon = p.lastIndexOf(':');
      return `[${p.slice(0, colon).replace(/^(0000:){7}0001$/, '::1')}]${p.slice(colon)}`;
    }),
  ]);
  const scrape = await httpGet(source, port, `/scrape?info_hash=${hash}`);
  const files = scrape.files as BDict;
  const entry = (files[hashOf(torrent).toString('latin1')] ?? {}) as Record<string, number>;
  return { peers, downloaded: entry.downloaded ?? 0 };
}

test('SIGKILL under load: a restart from the state file loses at most the last interval', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarmd-chaos-'));
  const port = await freePort();
  const args = ['--host', '127.0.0.1', '--host', '::1', '--http-port', `${port}`, '--udp-port', `${port}`];
  args.push('--workers', '2', '--state-file', path.join(dir, 'swarmd.state'), '--state-interval', '1');
  // The load stands for remote clients: the rate limits and the repeat cache apply to loopback as to them.
  args.push('--rate-limit-exempt', 'none');
  const started: Swarmd[] = [];
  const load = new Load(port);
  t.after(async () => {
    load.stopped = true;
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const first = await spawnSwarmd(args, '127.0.0.1', port);
  started.push(first);
  const closed = new Promise<void>((resolve) => first.proc.once('close', () => resolve()));
  const loadStart = Date.now();
  load.start();
  const savesSinceLoad = () => saves(first.output()).filter((s) => s.time - s.ms > loadStart).length;
  for (let waited = 0; savesSinceLoad() < SAVES_BEFORE_KILL; waited += 20) {
    assert.ok(waited < 10_000, `fewer than ${SAVES_BEFORE_KILL} saves in 10 s:\n${first.output()}`);
    await sleep(20);
  }
  await sleep(KILL_AFTER_SAVE_MS);
  const halted = load.stop();
  const killedAt = Date.now();
  first.proc.kill('SIGKILL');
  await closed; // every line it wrote is read
  await halted;

  const beforeKill = saves(first.output()).filter((s) => s.time < killedAt);
  const last = beforeKill.at(-1);
  assert.ok(last !== undefined && beforeKill.length >= SAVES_BEFORE_KILL, first.output());
  // Everything answered before the snapshot began is in the file; what came after may be lost.
  const savedFrom = last.time - last.ms - 2;
  const lostWindow = killedAt - savedFrom;
  assert.ok(
    lostWindow <= INTERVAL_MS + last.ms + SCHEDULING_SLACK_MS,
    `the last save before the kill began ${lostWindow} ms before it: more than one interval`,
  );

  const second = await spawnSwarmd(args, '127.0.0.1', port);
  started.push(second);

  const answered = load.sent.filter((s) => s.answeredAt !== null);
  const saved = answered.filter((s) => (s.answeredAt as number) < savedFrom);
  assert.ok(saved.length > 100, `only ${saved.length} announces answered before the last save`);
  assert.ok(answered.length > saved.length, 'the load went on after the last save');
  assert.ok(
    saved.some((s) => s.completed) && saved.some((s) => s.endpoint.startsWith('[::1]')),
    'the saved load has completed events and IPv6 peers',
  );
  const torrents = [...new Set(load.sent.map((s) => s.torrent))];
  let asker = 0;
  let lostPeers = 0;
  for (const torrent of torrents) {
    const have = await holdings(port, torrent, asker++);
    const sentHere = load.sent.filter((s) => s.torrent === torrent);
    const savedHere = saved.filter((s) => s.torrent === torrent);
    for (const s of savedHere) {
      assert.ok(
        have.peers.has(s.endpoint),
        `torrent ${torrent}: peer ${s.endpoint}, answered before the save, is gone`,
      );
    }
    const everSent = new Set(sentHere.map((s) => s.endpoint));
    for (const p of have.peers) assert.ok(everSent.has(p), `torrent ${torrent}: peer ${p} was never announced`);
    const completedBefore = new Set(savedHere.filter((s) => s.completed).map((s) => s.endpoint)).size;
    const completedSent = new Set(sentHere.filter((s) => s.completed).map((s) => s.endpoint)).size;
    assert.ok(
      have.downloaded >= completedBefore && have.downloaded <= completedSent,
      `torrent ${torrent}: downloaded ${have.downloaded}, ${completedBefore} completed before the save, ${completedSent} sent`,
    );
    const answeredHere = new Set(answered.filter((s) => s.torrent === torrent).map((s) => s.endpoint));
    lostPeers += [...answeredHere].filter((e) => !have.peers.has(e)).length;
  }
  t.diagnostic(
    `${answered.length} announces answered over ${torrents.length} torrents, ${saved.length} before the last save; ` +
      `kill ${lostWindow} ms after that save began; ${lostPeers} answered peers lost`,
  );
});
