// `swarmd query` / `swarmd-query`: one announce or scrape to a tracker over HTTP(S) or UDP, shown as a table or as
// JSON. Returns the exit status: 0 the tracker answered, 1 it refused or did not answer usably, 2 a usage error.

import { readFileSync } from 'node:fs';
import { helpText, parseQueryArgs, type QueryOptions, UsageError } from './args.ts';
import { emptyExchange, QueryError, type Transport } from './exchange.ts';
import { jsonReport, line, printable, type Report, summaryLines, titleLines } from './format.ts';
import { decodeReply, type HttpSettings, httpGet } from './http-tracker.ts';
import { type AnnounceInfo, MalformedReply, readAnnounceReply, readScrapeReply, type ScrapeInfo } from './replies.ts';
import { UDP_EVENTS, udpAnnounce, udpScrape } from './udp-tracker.ts';
import { announceQuery, scrapeQuery, scrapeUrlOf, withParams } from './urls.ts';

export async function runQuery(argv: string[]): Promise<number> {
  let options: QueryOptions | 'help';
  let ca: Buffer | null = null;
  try {
    options = parseQueryArgs(argv);
    if (options !== 'help' && options.caFile !== null) ca = readCa(options.caFile);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`swarmd query: ${err.message}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(helpText());
    return 0;
  }

  const print = (text: string) => process.stdout.write(`${text}\n`);
  if (!options.json) for (const text of titleLines(options)) print(text);
  const transport: Transport = {
    signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
    timeoutSeconds: options.timeoutSeconds,
    exchange: emptyExchange(),
    trace: options.json ? () => {} : (label, text) => print(line(label, printable(text))),
  };
  const http: HttpSettings = { userAgent: options.userAgent, ca, insecure: options.insecure };
  const report: Report = { options, exchange: transport.exchange, announce: null, scrape: null, error: null };
  try {
    if (options.mode === 'announce') report.announce = await announce(options, http, transport);
    else report.scrape = await scrape(options, http, transport);
    const failure = report.announce?.failure ?? report.scrape?.failure ?? null;
    if (failure !== null) report.error = `the tracker refused: ${failure}`;
  } catch (err) {
    if (!(err instanceof QueryError || err instanceof MalformedReply)) throw err;
    report.error = err.message;
  }

  if (options.json) {
    print(JSON.stringify(jsonReport(report), null, 2));
  } else {
    for (const text of summaryLines(report)) print(text);
    if (report.error !== null) process.stderr.write(`swarmd query: ${printable(report.error)}\n`);
  }
  return report.error === null ? 0 : 1;
}

function readCa(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new UsageError(`--ca ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${file}: no PEM certificate in it`);
  return pem;
}

async function announce(o: QueryOptions, http: HttpSettings, t: Transport): Promise<AnnounceInfo> {
  const infoHash = o.hashes[0];
  if (o.tracker.protocol === 'udp') {
    const fields = { infoHash, peerId: o.peerId, downloaded: 0, left: o.left, uploaded: 0, port: o.port };
    return udpAnnounce(
      o.tracker.host,
      o.tracker.port,
      { ...fields, event: UDP_EVENTS[o.event], numWant: o.numWant },
      t,
    );
  }
  const event = o.event === 'none' ? null : o.event;
  const query = announceQuery({ infoHash, peerId: o.peerId, port: o.port, left: o.left, numWant: o.numWant, event });
  return readAnnounceReply(decodeReply(await httpGet(withParams(o.tracker.href, query), http, t)));
}

async function scrape(o: QueryOptions, http: HttpSettings, t: Transport): Promise<ScrapeInfo> {
  if (o.tracker.protocol === 'udp') return udpScrape(o.tracker.host, o.tracker.port, o.hashes, t);
  // parseQueryArgs refused a URL without a scrape URL.
  const base = scrapeUrlOf(o.tracker.href) as string;
  const href = o.hashes.length === 0 ? base : withParams(base, scrapeQuery(o.hashes));
  return readScrapeReply(decodeReply(await httpGet(href, http, t)));
}
