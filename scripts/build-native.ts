// Builds the native I/O addons (native/udp_batch.c and native/tcp_batch.c -> build/Release/*.node) with node-gyp;
// package.json's "install" script, and runnable by hand: node scripts/build-native.ts
//
// Offline-safe: node-gyp gets --nodedir, a Node install with include/node/node_api.h and common.gypi (the one the
// `node` npm dependency ships), so it never downloads headers. The addon is optional: whatever goes wrong, this
// prints one warning line and exits 0, and UDP runs on node:dgram, HTTP on node:net.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const addonPaths = ['udp_batch', 'tcp_batch'].map((name) => path.join(root, 'build', 'Release', `${name}.node`));
const logPath = path.join(root, 'build', 'native-build.log');

class Skip extends Error {}

function isNodeDir(dir: string): boolean {
  return (
    existsSync(path.join(dir, 'include', 'node', 'node_api.h')) &&
    existsSync(path.join(dir, 'include', 'node', 'common.gypi'))
  );
}

/** A Node install with headers: the `node` dependency's node-<platform>-<arch> package, else the running Node's. */
function findNodeDir(): string {
  const tried: string[] = [];
  try {
    const req = createRequire(path.join(root, 'node_modules', 'node', 'package.json'));
    const dir = path.dirname(req.resolve(`node-${process.platform}-${process.arch}/package.json`));
    if (isNodeDir(dir)) return dir;
    tried.push(dir);
  } catch {
    tried.push(`node_modules/node/node_modules/node-${process.platform}-${process.arch}`);
  }
  const own = path.dirname(path.dirname(process.execPath));
  if (isNodeDir(own)) return own;
  tried.push(own);
  throw new Skip(`no Node headers (include/node/common.gypi) in ${tried.join(' or ')}`);
}

/** node-gyp's entry script: npm's own (npm_config_node_gyp), else the one bundled with the npm on this machine. */
function findNodeGyp(): string {
  const candidates: string[] = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const inNpm = (npmDir: string) => path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  // npm_execpath is npm's bin/npm-cli.js when npm runs this script.
  if (process.env.npm_execpath) candidates.push(inNpm(path.dirname(path.dirname(process.env.npm_execpath))));
  try {
    candidates.push(inNpm(path.dirname(createRequire(import.meta.url).resolve('npm/package.json'))));
  } catch {}
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const npm = path.join(dir, 'npm');
    if (!dir || !existsSync(npm)) continue;
    try {
      // .../npm/bin/npm-cli.js (a symlink from .../bin/npm) -> .../npm
      candidates.push(inNpm(path.dirname(path.dirname(realpathSync(npm)))));
    } catch {}
  }
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(
    inNpm(path.join(prefix, 'lib', 'node_modules', 'npm')),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  );
  const found = candidates.find((c) => c.endsWith('.js') && existsSync(c));
  if (!found) throw new Skip('node-gyp not found (neither npm_config_node_gyp nor one bundled with npm)');
  return found;
}

/** The line of node-gyp's output that says what went wrong. */
function failureReason(output: string, status: number | null, signal: string | null): string {
  const lines = output.split('\n').map((l) => l.trim());
  const noise = /^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|\$npm_|not ok)/;
  const pick =
    lines.find((l) => /error:|not found|No such file|cannot find|command not found/i.test(l) && !noise.test(l)) ??
    lines.find((l) => l.startsWith('make: ***')) ??
    lines.find((l) => l.startsWith('gyp ERR!') && !noise.test(l)) ??
    `node-gyp exited with ${signal ?? status}`;
  return pick.length > 160 ? `${pick.slice(0, 157)}...` : pick;
}

/** Whether `command` (a name looked up on PATH, or a path) is an existing file. */
function onPath(command: string): boolean {
  if (command.includes('/')) return existsSync(command);
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && existsSync(path.join(dir, command)));
}

function build(): void {
  if (process.platform !== 'linux') throw new Skip(`recvmmsg/sendmmsg need Linux, this is ${process.platform}`);
  // make's default C compiler is cc; a missing one would otherwise only show as "make: *** ... Error 127".
  const cc = (process.env.CC ?? 'cc').trim().split(/\s+/)[0] || 'cc';
  if (!onPath(cc)) throw new Skip(`no C compiler: ${cc} not found (install gcc or set CC)`);
  if (!onPath('make')) throw new Skip('make not found');
  const nodedir = findNodeDir();
  const nodeGyp = findNodeGyp();
  const args = [nodeGyp, 'rebuild', '--release', `--nodedir=${nodedir}`];
  const env = { ...process.env, npm_config_nodedir: nodedir };
  const run = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', timeout: 300_000 });
  const output = `$ ${process.execPath} ${args.join(' ')}\n${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? `${run.error}\n` : ''}`;
  try {
    mkdirSync(path.dirname(logPath), { recursive: true });
    writeFileSync(logPath, output);
  } catch {}
  if (run.error) throw new Skip(`node-gyp did not run: ${run.error.message}; see build/native-build.log`);
  if (run.status !== 0) throw new Skip(`${failureReason(output, run.status, run.signal)}; see build/native-build.log`);
  for (const addonPath of addonPaths) {
    const name = path.relative(root, addonPath);
    if (!existsSync(addonPath)) throw new Skip(`node-gyp succeeded but ${name} is missing`);
    try {
      const addon = createRequire(import.meta.url)(addonPath) as { open?: unknown; listen?: unknown };
      if (typeof addon.open !== 'function' && typeof addon.listen !== 'function') throw new Error('no entry point');
    } catch (err) {
      throw new Skip(`${name} built, but it does not load: ${String((err as Error).message).split('\n')[0]}`);
    }
  }
}

try {
  build();
  console.log(`swarmd: native I/O addons built (${addonPaths.map((p) => path.relative(root, p)).join(', ')})`);
} catch (err) {
  const reason = err instanceof Skip ? err.message : `unexpected: ${String((err as Error)?.message ?? err)}`;
  console.warn(`swarmd: native I/O addons not built (${reason}); UDP will use node:dgram, HTTP node:net`);
}
process.exitCode = 0;
