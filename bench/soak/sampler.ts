// Once a second: the tracker's resident memory and CPU (from /proc/PID), the flooder's CPU, this process's own and
// its event loop's delay, and what the rest of the machine used, so that a report can tell a slow tracker from a
// machine that other work saturated (the machine is shared) or a client that fell behind.

import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuSeconds, rssMiB } from '../proc.ts';

/** CPUs of the machine, as /proc/stat counts its time (an affinity mask does not change it). */
const MACHINE_CPUS = readFileSync('/proc/stat', 'latin1')
  .split('\n')
  .filter((line) => /^cpu\d/.test(line)).length;

export interface Sample {
  /** Seconds since the sampler started. */
  t: number;
  rssMiB: number;
  /** The tracker's CPU over the last second, in cores (2.0 = both CPUs busy). */
  trackerCpu: number;
  flooderCpu: number;
  soakCpu: number;
  /** Share of the machine's CPU time that was busy over the last second, 0..1. */
  machineBusy: number;
  /** Cores busy with anything but swarmd, the flooder and the soak. */
  othersCpu: number;
  /** Longest this process's event loop was held up over the last second: latency the clients add themselves. */
  soakLagMs: number;
}

function machineTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + v[4];
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export class Sampler {
  readonly samples: Sample[] = [];
  private readonly trackerPid: number;
  /** Set once the flooder runs. */
  flooderPid: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly origin: number;
  private readonly lag = monitorEventLoopDelay({ resolution: 10 });
  private last = { tracker: 0, flooder: 0, soak: 0, machine: machineTimes(), at: performance.now() };

  /** `origin`: performance.now() at the start of the run, from which samples are timed. */
  constructor(trackerPid: number, origin: number) {
    this.trackerPid = trackerPid;
    this.origin = origin;
    this.last.tracker = cpuSeconds(trackerPid) ?? 0;
    this.last.soak = cpuSeconds(process.pid) ?? 0;
  }

  start(): void {
    this.lag.enable();
    this.timer = setInterval(() => this.sample(), 1000);
  }

  stop(): void {
    this.lag.disable();
    if (this.timer !== null) clearInterval(this.timer);
  }

  latest(): Sample | undefined {
    return this.samples.at(-1);
  }

  private sample(): void {
    const now = performance.now();
    const seconds = (now - this.last.at) / 1000;
    const rss = rssMiB(this.trackerPid);
    if (rss === null) return;
    const tracker = cpuSeconds(this.trackerPid) ?? this.last.tracker;
    const flooder = cpuSeconds(this.flooderPid);
    const soak = cpuSeconds(process.pid) ?? this.last.soak;
    const machine = machineTimes();
    // A flooder seen for the first time has run since it started, not over the whole last second.
    const flooderCpu = flooder === null || this.last.flooder === 0 ? 0 : (flooder - this.last.flooder) / seconds;
    const trackerCpu = (tracker - this.last.tracker) / seconds;
    const soakCpu = (soak - this.last.soak) / seconds;
    const machineBusy = (machine.busy - this.last.machine.busy) / (machine.total - this.last.machine.total || 1);
    const othersCpu = Math.max(0, machineBusy * MACHINE_CPUS - trackerCpu - flooderCpu - soakCpu);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    this.samples.push({
      t: Math.round((now - this.origin) / 100) / 10,
      rssMiB: Math.round(rss * 10) / 10,
      trackerCpu: r2(trackerCpu),
      flooderCpu: r2(flooderCpu),
      soakCpu: r2(soakCpu),
      machineBusy: Math.round(machineBusy * 1000) / 1000,
      othersCpu: r2(othersCpu),
      soakLagMs: Math.round(this.lag.max / 1e5) / 10,
    });
    this.lag.reset();
    this.last = { tracker, flooder: flooder ?? 0, soak, machine, at: now };
  }
}
