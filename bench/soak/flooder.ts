// Builds bench/flood.c (cc -O2, into build/soak/, again only when the source is newer) and runs it: node:dgram
// cannot send 50,000 datagrams a second beside the tracker on two cores, a C loop with sendmmsg can.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface FloodOptions {
  target: string;
  source: string;
  udpPort: number;
  httpPort: number;
  seconds: number;
  udpRate: number;
  /** Weights of garbage, bad connection ids, valid announces and valid scrapes, e.g. '1:1:2:1'. */
  mix: string;
  httpRate: number;
  httpConnections: number;
  junkRate: number;
  torrents: number;
  /** taskset CPU list for the flooder, or '' to leave it unpinned. */
  cpus: string;
}

/** The flooder's cumulative counts, as its once-a-second line gives them. */
export interface FloodTick {
  t: number;
  udp_sent: number;
  udp_replies: number;
  http_sent: number;
  http_responses: number;
  junk_opened: number;
  has_connection_id: boolean;
}

/** Path of the built flooder; exits the process with the compiler's words if it does not build. */
export function buildFlooder(repo: string): string {
  const source = join(repo, 'bench/flood.c');
  const dir = join(repo, 'build/soak');
  const binary = join(dir, 'flood');
  const mtime = (f: string) => {
    try {
      return statSync(f).mtimeMs;
    } catch {
      return -1;
    }
  };
  if (mtime(binary) > mtime(source)) return binary;
  mkdirSync(dir, { recursive: true });
  const cc = spawnSync('cc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8' });
  if (cc.status !== 0) {
    process.stderr.write(`soak: building ${source} failed (is gcc installed?):\n${cc.stderr ?? cc.error}\n`);
    process.exit(1);
  }
  return binary;
}

export class Flooder {
  readonly ticks: FloodTick[] = [];
  summary: Record<string, unknown> | null = null;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private stderr = '';

  constructor(binary: string, o: FloodOptions) {
    const args = [
      ...['--target', o.target, '--source', o.source, '--udp-port', `${o.udpPort}`, '--http-port', `${o.httpPort}`],
      ...['--duration', `${o.seconds}`, '--udp-rate', `${o.udpRate}`, '--mix', o.mix],
      ...['--http-rate', `${o.httpRate}`, '--http-conns', `${o.httpConnections}`, '--junk-rate', `${o.junkRate}`],
      ...['--torrents', `${o.torrents}`],
    ];
    this.proc =
      o.cpus === ''
        ? spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('taskset', ['-c', o.cpus, binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr?.on('data', (d) => {
      this.stderr += d;
    });
    const lines = createInterface({ input: this.proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const event = JSON.parse(line) as { type: string } & Record<string, unknown>;
      if (event.type === 'tick') this.ticks.push(event as unknown as FloodTick);
      else this.summary = event;
    });
    const closed = new Promise<void>((resolve) => lines.once('close', resolve));
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code) => closed.then(() => resolve(code)));
    });
  }

  /** What the flooder printed on standard error (its reason, when it stopped early). */
  errors(): string {
    return this.stderr.trim();
  }

  /** Junk requests and connections sent per second over each second of the run. */
  perSecondRates(): number[] {
    const total = (t: FloodTick) => t.udp_sent + t.http_sent + t.junk_opened;
    return this.ticks.map((t, i) =>
      i === 0 ? total(t) / t.t : (total(t) - total(this.ticks[i - 1])) / (t.t - this.ticks[i - 1].t),
    );
  }
}
