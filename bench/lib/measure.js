/**
 * One measured run of a whole process.
 *
 * Wall time: performance.now() around spawnSync in this process, so it covers the child's
 * exec, start-up, work and exit (and the same small harness cost for every tool).
 *
 * Peak RSS: GNU time (`/usr/bin/time -f ...`, Debian package `time`) runs the command and
 * reports the child's ru_maxrss from wait4(2), i.e. the real peak of that very process (and
 * of its own children, none here). GNU time also reports the child's user and system CPU
 * seconds (10 ms resolution), which are less disturbed than wall time by other load on the
 * machine. Without /usr/bin/time the run is still timed, and RSS is null.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { which } from './util.js';

export const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = which(GNU_TIME);

const rssFile = path.join(os.tmpdir(), `tscp-bench-time-${process.pid}`);

/**
 * Variables removed from every measured child's environment: they change what Node does at
 * start-up, not what the tools do. NODE_EXTRA_CA_CERTS makes every Node process read and
 * parse a CA bundle before running anything (on this kind of machine it triples `node -e 0`,
 * 40 -> 120 ms); NODE_V8_COVERAGE (set by tap under coverage) makes each one write a
 * coverage file; NODE_OPTIONS may preload anything. `--keep-env` keeps them.
 */
export const REMOVED_ENV = ['NODE_EXTRA_CA_CERTS', 'NODE_V8_COVERAGE', 'NODE_OPTIONS'];
let childEnv = cleanEnv();

function cleanEnv() {
  const env = { ...process.env };
  for (const k of REMOVED_ENV) delete env[k];
  return env;
}

/** Keep the caller's environment as it is for the children (--keep-env). */
export function keepEnvironment() {
  childEnv = { ...process.env };
}

/**
 * Run argv[0] with argv[1..]. `stderr`: 'pipe' (captured, the default), 'null' (/dev/null).
 * Resolves to { ms, rssKiB, userS, sysS, status, signal, stderr, stdout }.
 */
export function runTimed(argv, { stderr = 'pipe', stdout = 'ignore', cwd, env, timeoutMs = 15 * 60_000 } = {}) {
  const [cmd, ...args] = HAVE_GNU_TIME ? [GNU_TIME, '-f', '%M %U %S', '-o', rssFile, ...argv] : argv;
  const devNull = stderr === 'null' || stdout === 'null' ? fs.openSync('/dev/null', 'w') : undefined;
  const stdio = ['ignore', stdout === 'null' ? devNull : stdout, stderr === 'null' ? devNull : stderr];
  if (HAVE_GNU_TIME) fs.rmSync(rssFile, { force: true });
  const started = performance.now();
  const r = spawnSync(cmd, args, { stdio, cwd, env: env ?? childEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - started;
  if (devNull !== undefined) fs.closeSync(devNull);
  let rssKiB = null;
  let userS = null;
  let sysS = null;
  if (HAVE_GNU_TIME) {
    let text = '';
    try {
      text = fs.readFileSync(rssFile, 'utf8');
    } catch {
      // The child could not be started at all: r.error says why.
    }
    // GNU time writes "Command exited with non-zero status N" first when N != 0.
    const last = text.trim().split('\n').pop() ?? '';
    const m = /^(\d+) ([\d.]+) ([\d.]+)$/.exec(last.trim());
    if (m) {
      rssKiB = Number(m[1]);
      userS = Number(m[2]);
      sysS = Number(m[3]);
    }
  }
  return {
    ms,
    rssKiB,
    userS,
    sysS,
    status: r.status,
    signal: r.signal,
    error: r.error ? String(r.error.message) : null,
    stdout: r.stdout ? String(r.stdout) : '',
    stderr: r.stderr ? String(r.stderr) : '',
  };
}

/**
 * The harness's own cost: the median wall time of measuring `true` (exec of a tiny binary
 * through the same path). Every measured time includes it.
 */
export function harnessFloorMs(n = 11) {
  const times = [];
  for (let i = 0; i < n; i++) times.push(runTimed(['true']).ms);
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}
