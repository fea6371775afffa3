// Real-client integration test: a file seeded by one real BitTorrent client is downloaded by another real client
// with swarmd as the only peer source (no DHT, PEX, LSD, UPnP/NAT-PMP or uTP), then checked by SHA-1 and SHA-256.
// Afterwards the HTTP scrape must list the torrent with a seeder and with the leecher's event=completed counted.
//
// Needs: python3-libtorrent (system /usr/bin/python3), aria2, transmission-daemon, transmission-cli.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { freePort } from './helpers/ports.ts';
import {
  type Case,
  type FileHashes,
  makeTorrent,
  requireClients,
  runCase,
  startAria2,
  startLibtorrent,
  startTracker,
  startTransmission,
  urlHost,
  waitForEvent,
  waitForFileHashes,
  waitForScrape,
  writeRandomFile,
} from './helpers/real-clients.ts';

const FILE_SIZE = 4 * 1024 * 1024;
const CASE_TIMEOUT_MS = 90_000;
// Under the case timeout, so that our own error (with client logs) is what gets reported.
const DOWNLOAD_TIMEOUT_MS = 30_000;
// Transmission waits ~10 s before it starts to transfer.
const TRANSMISSION_DOWNLOAD_TIMEOUT_MS = 60_000;

interface Swarm {
  host: string;
  port: number;
  torrent: string;
  infoHash: string;
  hashes: FileHashes;
  seedDir: string;
  leechDir: string;
  /** Where the leecher's copy appears once complete. */
  leechFile: string;
}

/** Makes the random file and its torrent, then starts the tracker under test on `host`. */
async function setUpSwarm(
  scope: Case,
  host: string,
  protocol: 'http' | 'udp',
  options: { private?: boolean } = {},
): Promise<Swarm> {
  const port = await freePort();
  const seedDir = path.join(scope.dir, 'seed');
  const leechDir = path.join(scope.dir, 'leech');
  await mkdir(seedDir);
  await mkdir(leechDir);
  const dataFile = path.join(seedDir, 'data.bin');
  const hashes = await writeRandomFile(dataFile, FILE_SIZE);
  const torrent = path.join(scope.dir, 'data.torrent');
  const announce = `${protocol}://${urlHost(host)}:${port}/announce`;
  const infoHash = await makeTorrent(dataFile, announce, torrent, options);
  await startTracker(scope, { host, port });
  return { host, port, torrent, infoHash, hashes, seedDir, leechDir, leechFile: path.join(leechDir, 'data.bin') };
}

/** The tracker must list the torrent with a seeder and have counted the leecher's event=completed. */
async function assertScrapeAfterDownload(swarm: Swarm): Promise<void> {
  const entry = await waitForScrape(
    swarm.host,
    swarm.port,
    swarm.infoHash,
    'complete >= 1 and downloaded >= 1',
    (e) => e.complete >= 1 && e.downloaded >= 1,
  );
  assert.ok(entry.complete >= 1, `complete: ${entry.complete}`);
  assert.ok(entry.downloaded >= 1, `downloaded: ${entry.downloaded}`);
}

test('HTTP over IPv4: libtorrent seeds, aria2 leeches', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  await requireClients(['aria2c'], true);
  await runCase('http-v4-lt-aria2', t.signal, async (scope) => {
    const swarm = await setUpSwarm(scope, '127.0.0.1', 'http');
    const seeder = await startLibtorrent(scope, {
      name: 'libtorrent seeder',
      torrent: swarm.torrent,
      dir: swarm.seedDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForEvent(seeder, 'tracker_reply', 10_000);
    const leecher = await startAria2(scope, {
      name: 'aria2 leecher',
      role: 'leech',
      udpTracker: false,
      torrent: swarm.torrent,
      dir: swarm.leechDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForFileHashes(swarm.leechFile, swarm.hashes, DOWNLOAD_TIMEOUT_MS, leecher);
    await assertScrapeAfterDownload(swarm);
  });
});

test('UDP over IPv4: aria2 seeds a private torrent, libtorrent leeches', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  await requireClients(['aria2c'], true);
  await runCase('udp-v4-aria2-lt', t.signal, async (scope) => {
    // aria2 speaks UDP trackers only with DHT on; a private torrent keeps DHT out of the swarm.
    const swarm = await setUpSwarm(scope, '127.0.0.1', 'udp', { private: true });
    const seeder = await startAria2(scope, {
      name: 'aria2 seeder',
      role: 'seed',
      udpTracker: true,
      torrent: swarm.torrent,
      dir: swarm.seedDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForScrape(swarm.host, swarm.port, swarm.infoHash, 'the aria2 seeder', (e) => {
      seeder.assertRunning();
      return e.complete >= 1;
    });
    const leecher = await startLibtorrent(scope, {
      name: 'libtorrent leecher',
      torrent: swarm.torrent,
      dir: swarm.leechDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForEvent(leecher, 'finished', DOWNLOAD_TIMEOUT_MS);
    await waitForFileHashes(swarm.leechFile, swarm.hashes, 5_000, leecher);
    await assertScrapeAfterDownload(swarm);
  });
});

test('HTTP over IPv6: transmission leeches, libtorrent seeds', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  await requireClients(['transmission-daemon', 'transmission-remote'], true);
  await runCase('http-v6-tr-lt', t.signal, async (scope) => {
    const swarm = await setUpSwarm(scope, '::1', 'http');
    // Transmission drops loopback peers that come from the tracker, so it leeches and starts first: the seeder
    // then learns Transmission's address from its own announce and connects to it.
    const leecher = await startTransmission(scope, {
      name: 'transmission leecher',
      torrent: swarm.torrent,
      infoHash: swarm.infoHash,
      dir: swarm.leechDir,
      host: swarm.host,
      port: await freePort(),
      rpcPort: await freePort(),
    });
    await waitForScrape(swarm.host, swarm.port, swarm.infoHash, 'the transmission leecher', (e) => {
      leecher.assertRunning();
      return e.incomplete >= 1;
    });
    const seeder = await startLibtorrent(scope, {
      name: 'libtorrent seeder',
      torrent: swarm.torrent,
      dir: swarm.seedDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForEvent(seeder, 'tracker_reply', 10_000);
    await waitForFileHashes(swarm.leechFile, swarm.hashes, TRANSMISSION_DOWNLOAD_TIMEOUT_MS, leecher);
    await assertScrapeAfterDownload(swarm);
  });
});

test('HTTP over IPv6: libtorrent seeds, aria2 leeches', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  await requireClients(['aria2c'], true);
  await runCase('http-v6-lt-aria2', t.signal, async (scope) => {
    const swarm = await setUpSwarm(scope, '::1', 'http');
    const seeder = await startLibtorrent(scope, {
      name: 'libtorrent seeder',
      torrent: swarm.torrent,
      dir: swarm.seedDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForEvent(seeder, 'tracker_reply', 10_000);
    // aria2 takes the seeder from the reply's `peers6` (BEP 7) and connects to it.
    const leecher = await startAria2(scope, {
      name: 'aria2 leecher',
      role: 'leech',
      udpTracker: false,
      torrent: swarm.torrent,
      dir: swarm.leechDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForFileHashes(swarm.leechFile, swarm.hashes, DOWNLOAD_TIMEOUT_MS, leecher);
    await assertScrapeAfterDownload(swarm);
  });
});

test('UDP over IPv6: libtorrent seeds, another libtorrent leeches', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  // Neither aria2 nor Transmission can announce over UDP on IPv6, so both ends are libtorrent (separate processes).
  await requireClients([], true);
  await runCase('udp-v6-lt-lt', t.signal, async (scope) => {
    const swarm = await setUpSwarm(scope, '::1', 'udp');
    const seeder = await startLibtorrent(scope, {
      name: 'libtorrent seeder',
      torrent: swarm.torrent,
      dir: swarm.seedDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForEvent(seeder, 'tracker_reply', 10_000);
    const leecher = await startLibtorrent(scope, {
      name: 'libtorrent leecher',
      torrent: swarm.torrent,
      dir: swarm.leechDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForEvent(leecher, 'finished', DOWNLOAD_TIMEOUT_MS);
    await waitForFileHashes(swarm.leechFile, swarm.hashes, 5_000, leecher);
    await assertScrapeAfterDownload(swarm);
  });
});

test('HTTP over IPv4: transmission seeds, aria2 leeches', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  await requireClients(['transmission-daemon', 'transmission-remote', 'aria2c'], false);
  await runCase('http-v4-tr-aria2', t.signal, async (scope) => {
    const swarm = await setUpSwarm(scope, '127.0.0.1', 'http');
    const seeder = await startTransmission(scope, {
      name: 'transmission seeder',
      torrent: swarm.torrent,
      infoHash: swarm.infoHash,
      dir: swarm.seedDir,
      host: swarm.host,
      port: await freePort(),
      rpcPort: await freePort(),
    });
    await waitForScrape(swarm.host, swarm.port, swarm.infoHash, 'the transmission seeder', (e) => {
      seeder.assertRunning();
      return e.complete >= 1;
    });
    const leecher = await startAria2(scope, {
      name: 'aria2 leecher',
      role: 'leech',
      udpTracker: false,
      torrent: swarm.torrent,
      dir: swarm.leechDir,
      host: swarm.host,
      port: await freePort(),
    });
    await waitForFileHashes(swarm.leechFile, swarm.hashes, TRANSMISSION_DOWNLOAD_TIMEOUT_MS, leecher);
    await assertScrapeAfterDownload(swarm);
  });
});
