/**
 * Hostile input: a few hundred random command lines, drawn with a fixed seed from a grammar
 * of tscp's options, over hostile operands. Whatever is typed, tscp must
 *
 *   - exit 0, 1, 2 or 3, or 128+N (death by a signal counts only for SIGHUP, SIGINT and
 *     SIGTERM, the ones tscp re-raises itself; this test sends none, so SIGABRT, SIGSEGV or
 *     our SIGKILL after TIMEOUT_MS are crashes and hangs, and fail),
 *   - print no stack trace, no Node internals and no Node warning, on stdout or stderr,
 *   - under --json, print exactly one JSON document on stdout whose `exitCode` is the
 *     process's exit status (usage errors included: src/cli/main.ts prints usageReport),
 *   - leave every SOURCE as it was (sha256, size and mtime of files; the same for every file
 *     of a directory SOURCE; a FIFO stays a FIFO),
 *   - leave /dev/null and /dev/zero the devices they were (only ever SOURCEs here, see below),
 * and, as everywhere else in tscp: no temporary file (.tscp-*) left behind, nothing on
 * stdout without -v or --json, and a `tscp: ` line on stderr when the exit status is not 0.
 *
 * Grammar (generate()): a mode (none, --reflink, --reflink=auto|always|never, --copy,
 * --dedupe, sometimes two of them), -s/-d/-l in every spelling (-s V, -sV, --src-offset=V,
 * --src-offset V) with values that are small, huge (2^53 +-1, 2^63-1, 2^64, 1e30), negative,
 * hex, with suffixes (src/cli/size.ts: K M G T, KiB..., KB...) or garbage; --inplace,
 * --fsync, --json, -v, -q, --progress, --no-progress, -n, -T, sometimes -r or -a, an
 * unknown or malformed option, an option after the operands, `--` before them.
 *
 * Operands: regular files of 0, 1, 4097 bytes, 1 MiB and a 4 MiB sparse file on a
 * loop-mounted XFS (reflink=1) and on ext4 (another filesystem, so every copy between them
 * is a real cross-filesystem copy), sometimes named with a trailing slash; a missing path;
 * a directory and a file inside it; /dev/null; /dev/zero; /proc/self/status and
 * /proc/cpuinfo (size 0, real content); a FIFO with a writer that writes 6000 bytes and
 * closes (a new writer per case). As DEST also: a new path on either filesystem, an
 * existing file, a directory, a trailing slash after a new name, a file or a directory, a
 * path inside a missing directory or under a regular file (ENOTDIR), a null and a zero
 * device, a FIFO with a reader, /proc/self/status, and the same file twice: the same path,
 * the same path spelled differently, a hard link and a symlink to SOURCE. Several SOURCEs
 * (with or without -t) now and then.
 *
 * A device DEST is the case's own node (mknod c 1 3 or c 1 5 in c<index>/: the same driver
 * as /dev/null and /dev/zero), never the machine's: as root, `cp -r /dev/zero /dev/null`
 * replaces /dev/null with a zero device, and tscp rightly does what cp does. (An early run
 * of this test did exactly that to the machine it ran on.) For the same-file DESTs a
 * device SOURCE is the private node as well.
 *
 * What is left out, because a correct tool may run forever on it (the test would measure
 * the timeout, not tscp): SOURCE /dev/zero without a bound (cp /dev/zero x runs until the
 * disk is full), so /dev/zero is a SOURCE only with -r/-a (the device node is recreated,
 * as cp -r does, nothing is read) or with the case's -l replaced by `-l 4096`; /dev/urandom
 * for the same reason; /proc/kmsg, a terminal or a FIFO whose writer never closes (a read
 * blocks until data comes, and may never come); /proc and /sys directories under -r
 * (thousands of files that change while being read). A FIFO DEST gets a reader, since
 * opening a FIFO for writing blocks until one comes, as it does for cp.
 *
 * Every case gets fresh copies of its files in its own directory on each filesystem
 * (c<index>/), so cases are independent and can run CONCURRENCY at a time. A case's
 * command line depends only on SEED and its index (the PRNG is re-seeded per case), so a
 * failure is reproduced with TSCP_HOSTILE_ONLY=<index> (or the printed shell line, with
 * $XFS and $EXT4 set to two such mounts and the files made as materialize() does).
 * TSCP_HOSTILE_CASES=<n> runs n cases, TSCP_HOSTILE_SEED=<n> another seed, and
 * TSCP_HOSTILE_DEBUG=1 lists every case with its exit status and time.
 *
 * SOURCE = DEST: a whole copy of a file onto itself must be refused (as cp does) and the
 * file stays as it was, so it is checked like any SOURCE. A byte range copied within one
 * file (-s/-d/-l with DEST the same inode, directly or through DEST's directory) is a
 * legitimate write into that file, so for those cases, and only for that file, the
 * unchanged-SOURCE check is skipped; the number of such skips is reported. A directory
 * SOURCE that is DEST too (`tscp a dir dir`) may gain the other SOURCEs' names, as with
 * cp; everything it held before must stay as it was, and nothing else may appear in it.
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, TEMP_PREFIX, mountFs, sha256 } from '../helpers/fs.js';

/** The seed of the whole run, fixed; TSCP_HOSTILE_SEED=<number> explores others. */
const SEED = Number(process.env.TSCP_HOSTILE_SEED ?? 0x5eed_0009) >>> 0;
/** How many command lines. */
const CASES = Number(process.env.TSCP_HOSTILE_CASES ?? 300);
/** tscp processes running at once (the machine this was sized on has 2 cores). */
const CONCURRENCY = 4;
/**
 * A case still running after this is killed with SIGKILL and counts as a failure. The
 * slowest case takes about 1 s on a quiet machine, up to 12 s while other test suites load
 * it: 30 s is a hang, not a busy machine.
 */
const TIMEOUT_MS = 30_000;
/** Only these case indexes (comma-separated), to reproduce a failure. */
const ONLY = process.env.TSCP_HOSTILE_ONLY?.split(',').map(Number);

const K = 1024;
const M = 1024 * K;

// ---------------------------------------------------------------------------------------
// A seeded PRNG (mulberry32) and what is drawn with it

type Rng = () => number;

function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The PRNG of case `index`: depends on SEED and the index only. */
function caseRng(index: number): Rng {
  return mulberry32(SEED ^ Math.imul(index + 1, 0x9e3779b1));
}

const chance = (rng: Rng, p: number): boolean => rng() < p;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
/** Pick from [weight, item] pairs. */
function weighted<T>(rng: Rng, table: readonly (readonly [number, T])[]): T {
  const total = table.reduce((s, [w]) => s + w, 0);
  let r = rng() * total;
  for (const [w, item] of table) {
    r -= w;
    if (r < 0) return item;
  }
  return table[table.length - 1]![1];
}

/** Deterministic bytes, so the files are the same in every run. */
function seededBytes(n: number, seed: number): Buffer {
  const rng = mulberry32(seed);
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const v = Math.floor(rng() * 4294967296);
    for (let j = 0; j < 4 && i + j < n; j++) buf[i + j] = (v >>> (8 * j)) & 0xff;
  }
  return buf;
}

// ---------------------------------------------------------------------------------------
// The grammar

const SIZES: readonly (readonly [number, readonly string[]])[] = [
  // small and exact
  [35, ['0', '1', '17', '4095', '4096', '4097', '65536', '1048576', '1048577', '4194304']],
  // huge: around 2^53 (the largest exact double), 2^63 (loff_t), 2^64, 1e30; 2^40 and 2^44 (ext4's limit)
  [
    20,
    [
      '9007199254740991',
      '9007199254740992',
      '9007199254740993',
      '4503599627370496',
      '9223372036854775807',
      '9223372036854775808',
      '18446744073709551616',
      '1000000000000000000000000000000',
      '1e30',
      '1099511627776',
      '17592186044416',
    ],
  ],
  [8, ['-1', '-4096', '-9223372036854775808', '-0']],
  [12, ['0x1000', '0x0', '0X10', '0xffffffffffffffff', '0x7fffffffffffffff', '0x20000000000000', '0x1fffffffffffff']],
  [15, ['4K', '4k', '1M', '1MiB', '2G', '1T', '8T', '8TiB', '1KB', '1MB', '9007199254740991K', '8388608T', '8388607T', '8191P', '1EiB']],
  [10, ['abc', '', '--', '1.5', ' 12', '12 ', '0x', 'K', '+5', '\u0663', '1_000', '0b101', '4 K', '1e3', 'NaN', 'Infinity']],
];

const RANGE_OPTIONS = [
  ['-s', '--src-offset'],
  ['-d', '--dst-offset'],
  ['-l', '--length'],
] as const;

const MODES: readonly (readonly [number, string[]])[] = [
  [30, []],
  [10, ['--reflink']],
  [10, ['--reflink=auto']],
  [10, ['--reflink=always']],
  [10, ['--reflink=never']],
  [10, ['--copy']],
  [12, ['--dedupe']],
];

const FLAGS: readonly (readonly [number, string])[] = [
  [10, '--inplace'],
  [6, '--fsync'],
  [8, '-v'],
  [6, '-q'],
  [4, '--progress'],
  [4, '--no-progress'],
  [5, '-n'],
  [5, '-T'],
  [6, '-r'],
  [4, '-a'],
];

/** Unknown, malformed or out-of-place options. */
const ODD_OPTIONS: readonly string[][] = [
  ['--bogus'],
  ['-Z'],
  ['--reflink=sometimes'],
  ['--reflink='],
  ['--json=yes'],
  ['--inplace=1'],
  ['--no-such-thing'],
  ['--src'],
  ['-j', '0'],
  ['-j', 'abc'],
  ['--preserve=bogus'],
  ['-vq'],
  ['-L'],
  ['-u'],
];

const TEMPLATES = ['empty', 'one', 'odd', 'mib', 'sparse'] as const;
type Template = (typeof TEMPLATES)[number];

type SourceKind =
  | { kind: 'file' | 'slash-file'; fs: 'xfs' | 'ext4'; tpl: Template }
  | { kind: 'missing' | 'dir' | 'dir-inner' | 'devnull' | 'devzero' | 'proc-status' | 'cpuinfo' | 'fifo' };

type DestKind =
  | 'new'
  | 'ext4-new'
  | 'existing'
  | 'ext4-existing'
  | 'dir'
  | 'ext4-dir'
  | 'slash-new'
  | 'slash-file'
  | 'slash-dir'
  | 'in-missing'
  | 'under-file'
  | 'devnull'
  | 'devzero'
  | 'same'
  | 'same-spelled'
  | 'hardlink'
  | 'symlink'
  | 'fifo'
  | 'proc-status';

interface Case {
  index: number;
  /** Options before the operands, each one or two words. */
  before: string[][];
  /** Options after the operands (commander, like GNU getopt, takes them there too). */
  after: string[][];
  dashDash: boolean;
  sources: SourceKind[];
  dest: DestKind;
  /** -t DEST instead of DEST last. */
  targetOption: boolean;
  /** Template of an existing DEST file. */
  destTpl: Template;
  /** The option given without its value, at the very end. */
  dangling?: string;
}

/** The DESTs that are SOURCE itself. */
const SAME_FILE: readonly DestKind[] = ['same', 'same-spelled', 'hardlink', 'symlink'];

function sourceKind(rng: Rng): SourceKind {
  return weighted<SourceKind>(rng, [
    [45, { kind: 'file', fs: 'xfs', tpl: pick(rng, TEMPLATES) }],
    [12, { kind: 'file', fs: 'ext4', tpl: pick(rng, ['odd', 'mib', 'sparse'] as const) }],
    [3, { kind: 'slash-file', fs: 'xfs', tpl: pick(rng, TEMPLATES) }],
    [6, { kind: 'missing' }],
    [6, { kind: 'dir' }],
    [4, { kind: 'dir-inner' }],
    [5, { kind: 'devnull' }],
    [4, { kind: 'devzero' }],
    [3, { kind: 'proc-status' }],
    [3, { kind: 'cpuinfo' }],
    [8, { kind: 'fifo' }],
  ]);
}

function sizeValue(rng: Rng): string {
  return pick(rng, weighted(rng, SIZES));
}

/** One range option in one of its spellings. */
function rangeOption(rng: Rng, which: (typeof RANGE_OPTIONS)[number]): string[] {
  const v = sizeValue(rng);
  const [short, long] = which;
  switch (Math.floor(rng() * 4)) {
    case 0:
      return [short, v];
    case 1:
      // -sVALUE only when the value is a word of its own (an empty one would take the next word).
      return v === '' ? [short, v] : [`${short}${v}`];
    case 2:
      return [`${long}=${v}`];
    default:
      return [long, v];
  }
}

function generate(index: number): Case {
  const rng = caseRng(index);
  const options: string[][] = [];
  let mode = weighted(rng, MODES);
  if (mode.length) options.push(mode);
  // Now and then a second mode: conflicts must be usage errors, repeats harmless.
  if (chance(rng, 0.08)) {
    mode = weighted(rng, MODES);
    if (mode.length) options.push(mode);
  }
  if (chance(rng, 0.45)) {
    const chosen = RANGE_OPTIONS.filter(() => chance(rng, 0.55));
    for (const which of chosen.length ? chosen : [pick(rng, RANGE_OPTIONS)]) options.push(rangeOption(rng, which));
    // Sometimes the same option twice (the last wins in commander and getopt).
    if (chance(rng, 0.05)) options.push(rangeOption(rng, pick(rng, RANGE_OPTIONS)));
  }
  if (chance(rng, 0.4)) options.push(['--json']);
  for (const [w, flag] of FLAGS) if (chance(rng, w / 60)) options.push([flag]);
  if (chance(rng, 0.08)) options.push(pick(rng, ODD_OPTIONS));
  // Shuffle, so every order is tried.
  for (let i = options.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [options[i], options[j]] = [options[j]!, options[i]!];
  }

  const several = chance(rng, 0.12);
  const sources = [sourceKind(rng)];
  let dest: DestKind;
  let targetOption = false;
  if (several) {
    sources.push(sourceKind(rng));
    if (chance(rng, 0.4)) sources.push(sourceKind(rng));
    dest = pick(rng, ['dir', 'ext4-dir', 'new', 'slash-new', 'slash-dir', 'existing', 'slash-file', 'devnull', 'in-missing', 'under-file'] as const);
    targetOption = chance(rng, 0.3);
  } else {
    dest = weighted<DestKind>(rng, [
      [14, 'new'],
      [10, 'ext4-new'],
      [12, 'existing'],
      [8, 'ext4-existing'],
      [7, 'dir'],
      [4, 'ext4-dir'],
      [5, 'slash-new'],
      [3, 'slash-file'],
      [3, 'slash-dir'],
      [4, 'in-missing'],
      [3, 'under-file'],
      [4, 'devnull'],
      [3, 'devzero'],
      [6, 'same'],
      [3, 'same-spelled'],
      [4, 'hardlink'],
      [3, 'symlink'],
      [3, 'fifo'],
      [2, 'proc-status'],
    ]);
  }
  const destTpl = pick(rng, ['empty', 'odd', 'mib', 'sparse'] as const);
  // A /proc file is not made DEST: -a would chmod and chown the machine's /proc/cpuinfo.
  if (SAME_FILE.includes(dest) && (sources[0]!.kind === 'proc-status' || sources[0]!.kind === 'cpuinfo')) dest = 'new';

  // /dev/zero as SOURCE is endless unless -r/-a recreates the node: bound it (see the top).
  const tree = options.some((o) => o[0] === '-r' || o[0] === '-a');
  if (sources.some((s) => s.kind === 'devzero') && !tree) {
    const isLength = (o: string[]) => o[0] === '-l' || o[0] === '--length' || /^(-l.|--length=)/.test(o[0]!);
    for (let i = options.length - 1; i >= 0; i--) if (isLength(options[i]!)) options.splice(i, 1);
    options.push(['-l', '4096']);
  }

  // Where the options go: mostly before the operands, sometimes some after them; `--`
  // before the operands only when nothing comes after (it would make options operands).
  const after: string[][] = [];
  if (options.length && chance(rng, 0.15)) after.push(...options.splice(Math.floor(rng() * options.length)));
  const dashDash = after.length === 0 && chance(rng, 0.08);
  const dangling = chance(rng, 0.02) ? pick(rng, ['-s', '-l', '--dst-offset']) : undefined;
  return { index, before: options, after, dashDash, sources, dest, targetOption, destTpl, dangling };
}

// ---------------------------------------------------------------------------------------
// Reading a command line as getopt would (to know what the case asked for)

const TAKES_VALUE_SHORT = 'sdltj';
const TAKES_VALUE_LONG = new Set(['--src-offset', '--dst-offset', '--length', '--target-directory', '--jobs', '--no-preserve']);

/** The option words of `args` (a value is not an option: `-l --json` asks for no JSON). */
function optionWords(args: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a.startsWith('--')) {
      words.push(a);
      if (!a.includes('=') && TAKES_VALUE_LONG.has(a)) i++;
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        words.push(`-${a[j]}`);
        if (TAKES_VALUE_SHORT.includes(a[j]!)) {
          if (j === a.length - 1) i++;
          break;
        }
      }
    }
  }
  return words;
}

// ---------------------------------------------------------------------------------------
// Files

interface Mounts {
  xfs: string;
  ext4: string;
}

interface Built {
  args: string[];
  /** SOURCE operands that are ours to check (files, directories, FIFOs in the case dirs). */
  checked: string[];
  /** Processes feeding or draining a FIFO. */
  helpers: ChildProcess[];
  dirs: string[];
  cwd: string;
  dest: string;
  sources: string[];
}

function tplPath(m: Mounts, where: 'xfs' | 'ext4', tpl: Template): string {
  return path.join(m[where], 'tpl', tpl);
}

/** A fresh copy of a template, sharing extents where the filesystem can, holes kept. */
function copyTemplate(m: Mounts, where: 'xfs' | 'ext4', tpl: Template, to: string): void {
  execFileSync('cp', ['--reflink=auto', '--sparse=always', tplPath(m, where, tpl), to]);
}

function startHelper(script: string, fifo: string): ChildProcess {
  const child = spawn('sh', ['-c', script, 'sh', fifo], { stdio: 'ignore' });
  child.on('error', () => undefined);
  return child;
}

/** Make the case's files and return its command line. */
function materialize(c: Case, m: Mounts): Built {
  const X = path.join(m.xfs, `c${c.index}`);
  const E = path.join(m.ext4, `c${c.index}`);
  fs.mkdirSync(X);
  fs.mkdirSync(E);
  const built: Built = { args: [], checked: [], helpers: [], dirs: [X, E], cwd: X, dest: '', sources: [] };
  /** The case's own null or zero device. */
  const privateNode = (name: 'null' | 'zero'): string => {
    const p = path.join(X, name);
    if (!fs.existsSync(p)) execFileSync('mknod', ['-m', '666', p, 'c', '1', name === 'null' ? '3' : '5']);
    return p;
  };
  const ensureDir = (dir: string) => {
    if (fs.existsSync(dir)) return;
    fs.mkdirSync(dir);
    if (dir === path.join(X, 'dir')) copyTemplate(m, 'xfs', 'odd', path.join(dir, 'inner'));
  };

  const sourcePaths = c.sources.map((s): string => {
    switch (s.kind) {
      case 'file':
      case 'slash-file': {
        const base = s.fs === 'xfs' ? X : E;
        const p = path.join(base, `s-${s.tpl}`);
        if (!fs.existsSync(p)) copyTemplate(m, s.fs, s.tpl, p);
        built.checked.push(p);
        // A trailing slash after a file's name: ENOTDIR for any use of it.
        return s.kind === 'slash-file' ? `${p}/` : p;
      }
      case 'missing':
        return path.join(X, 'missing');
      case 'dir':
      case 'dir-inner': {
        ensureDir(path.join(X, 'dir'));
        const p = s.kind === 'dir' ? path.join(X, 'dir') : path.join(X, 'dir', 'inner');
        built.checked.push(p);
        return p;
      }
      case 'devnull':
      case 'devzero': {
        const name = s.kind === 'devnull' ? 'null' : 'zero';
        if (!SAME_FILE.includes(c.dest)) return `/dev/${name}`;
        const p = privateNode(name);
        built.checked.push(p);
        return p;
      }
      case 'proc-status':
        return '/proc/self/status';
      case 'cpuinfo':
        return '/proc/cpuinfo';
      case 'fifo': {
        const p = path.join(X, 'fifo');
        if (!fs.existsSync(p)) {
          execFileSync('mkfifo', [p]);
          // A few KiB, then close: the reader sees the end.
          built.helpers.push(startHelper('exec head -c 6000 /dev/urandom > "$1"', p));
        }
        built.checked.push(p);
        return p;
      }
    }
  });

  const first = sourcePaths[0]!;
  const firstIsOurs = built.checked.includes(first);
  let dest: string;
  switch (c.dest) {
    case 'new':
      dest = path.join(X, 'out');
      break;
    case 'ext4-new':
      dest = path.join(E, 'out');
      break;
    case 'existing':
    case 'slash-file':
      dest = path.join(X, 'dst');
      copyTemplate(m, 'xfs', c.destTpl, dest);
      if (c.dest === 'slash-file') dest += '/';
      break;
    case 'ext4-existing':
      dest = path.join(E, 'dst');
      copyTemplate(m, 'ext4', c.destTpl === 'empty' ? 'odd' : c.destTpl, dest);
      break;
    case 'dir':
    case 'slash-dir':
      ensureDir(path.join(X, 'dir'));
      dest = path.join(X, 'dir') + (c.dest === 'slash-dir' ? '/' : '');
      break;
    case 'ext4-dir':
      dest = path.join(E, 'dir');
      fs.mkdirSync(dest);
      break;
    case 'slash-new':
      dest = path.join(X, 'out') + '/';
      break;
    case 'in-missing':
      dest = path.join(X, 'nodir', 'out');
      break;
    case 'under-file':
      // A file where DEST's parent directory should be: ENOTDIR.
      copyTemplate(m, 'xfs', c.destTpl, path.join(X, 'dst'));
      dest = path.join(X, 'dst', 'out');
      break;
    case 'devnull':
      dest = privateNode('null');
      break;
    case 'devzero':
      dest = privateNode('zero');
      break;
    case 'same':
      dest = first;
      break;
    case 'same-spelled':
      dest = firstIsOurs ? `${path.dirname(first)}/./${path.basename(first)}` : first;
      break;
    case 'hardlink':
    case 'symlink': {
      if (!firstIsOurs || (c.dest === 'hardlink' && fs.statSync(first).isDirectory())) {
        dest = first;
        break;
      }
      dest = path.join(path.dirname(first), 'link');
      if (c.dest === 'hardlink') fs.linkSync(first, dest);
      else fs.symlinkSync(first, dest);
      break;
    }
    case 'fifo':
      dest = path.join(X, 'fifo-out');
      execFileSync('mkfifo', [dest]);
      built.helpers.push(startHelper('exec cat "$1" > /dev/null', dest));
      break;
    case 'proc-status':
      dest = '/proc/self/status';
      break;
  }

  const args: string[] = c.before.flat();
  if (c.targetOption) args.push('-t', dest);
  if (c.dashDash) args.push('--');
  args.push(...sourcePaths);
  if (!c.targetOption) args.push(dest);
  args.push(...c.after.flat());
  if (c.dangling) args.push(c.dangling);
  built.args = args;
  built.dest = dest;
  built.sources = sourcePaths;
  return built;
}

// ---------------------------------------------------------------------------------------
// Snapshots

/**
 * What must not change about a SOURCE: bytes, size and mtime of every file in it. `newcomers`:
 * names that may appear in a directory SOURCE that is also DEST (`tscp a dir dir` copies a
 * into dir, as cp does, and omits dir).
 */
function snapshot(p: string, newcomers: ReadonlySet<string> = new Set()): string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p, { bigint: false });
  } catch (err) {
    return `missing (${(err as NodeJS.ErrnoException).code})`;
  }
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice() || st.isBlockDevice()) return `device ${st.rdev}`;
  if (st.isSymbolicLink()) return `symlink -> ${fs.readlinkSync(p)}`;
  if (st.isDirectory()) {
    const names = fs.readdirSync(p).filter((n) => !newcomers.has(n)).sort();
    return `dir {${names.map((n) => `${n}: ${snapshot(path.join(p, n))}`).join(', ')}}`;
  }
  const big = fs.lstatSync(p, { bigint: true });
  return `file ${big.size} bytes, mtime ${big.mtimeNs}, sha256 ${sha256(p)}`;
}

function devices(): string {
  return ['/dev/null', '/dev/zero']
    .map((d) => {
      const st = fs.lstatSync(d);
      return `${d} ${st.isCharacterDevice() ? 'char' : 'NOT A DEVICE'} ${st.rdev}`;
    })
    .join(', ');
}
const DEVICES = devices();

/** Temporary files anywhere under `dir`. */
function leftTemps(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      const p = path.join(d, e.name);
      if (e.name.startsWith(TEMP_PREFIX)) found.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return found;
}

/** The same inode (following symlinks), or false. */
function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Running and judging one case

interface Outcome {
  index: number;
  command: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
  stdout: string;
  stderr: string;
  problems: string[];
  skippedSameFile: number;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const k of Object.keys(env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete env[k];
  }
  return env;
}

function run(args: string[], cwd: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean; ms: number }> {
  return new Promise((resolve) => {
    const began = performance.now();
    // Through env -u NODE_OPTIONS: tap adds its hooks to every child's NODE_OPTIONS.
    const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut, ms: performance.now() - began });
    });
  });
}

async function stopHelpers(helpers: ChildProcess[]): Promise<void> {
  await Promise.all(
    helpers.map(
      (h) =>
        new Promise<void>((resolve) => {
          if (h.exitCode !== null || h.signalCode !== null) return resolve();
          h.on('exit', () => resolve());
          h.kill('SIGKILL');
        }),
    ),
  );
}

const TRACES: [RegExp, string][] = [
  [/^\s+at .+:\d+:\d+\)?$/m, 'a stack frame'],
  [/\b(RangeError|TypeError|ReferenceError|SyntaxError|AssertionError)\b/, 'a JavaScript error name'],
  [/^\w*Error:/m, "an 'Error:' line"],
  [/node:internal/, 'node:internal'],
  [/^\(node:\d+\)/m, 'a Node warning'],
  [/FATAL ERROR|Uncaught|Assertion failed/, 'a fatal Node error'],
];

/**
 * Output made printable for a TAP comment: a carriage return (the progress bar's) in a
 * comment makes tap's parser drop everything after it, the assertion included, and pass.
 */
function printable(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (ch) => (ch === '\r' ? '\\r' : ch === '\x1b' ? '\\e' : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function runCase(index: number, m: Mounts): Promise<Outcome> {
  const c = generate(index);
  const built = materialize(c, m);
  const shown = (s: string) => s.split(m.xfs).join('$XFS').split(m.ext4).join('$EXT4');
  const command = `cd $XFS/c${index} && tscp ${built.args.map((a) => shown(quote(a))).join(' ')}`;
  const words = optionWords(built.args);
  const range = words.some((w) => /^(-[sdl]|--(src-offset|dst-offset|length)(=.*)?)$/.test(w));

  // The SOURCEs to check, and which are legitimately written: a range within one file.
  const dest = built.dest;
  let skippedSameFile = 0;
  const before = new Map<string, { was: string; newcomers: Set<string> }>();
  for (const p of new Set(built.checked)) {
    if (range && (sameFile(p, dest) || sameFile(p, path.join(dest, path.basename(p))))) {
      skippedSameFile++;
      continue;
    }
    // A directory SOURCE that is DEST too receives the other SOURCEs (names it has not got yet).
    const newcomers = new Set<string>();
    if (fs.lstatSync(p).isDirectory() && sameFile(p, dest)) {
      const has = new Set(fs.readdirSync(p));
      for (const other of built.sources) if (!sameFile(other, p) && !has.has(path.basename(other))) newcomers.add(path.basename(other));
    }
    before.set(p, { was: snapshot(p, newcomers), newcomers });
  }

  const r = await run(built.args, built.cwd);
  await stopHelpers(built.helpers);

  const problems: string[] = [];
  const okStatus = r.status !== null && (r.status <= 3 || (r.status > 128 && r.status < 160));
  const okSignal = r.status === null && (r.signal === 'SIGHUP' || r.signal === 'SIGINT' || r.signal === 'SIGTERM');
  if (r.timedOut) problems.push(`timeout: still running after ${TIMEOUT_MS / 1000} s, killed`);
  else if (!okStatus && !okSignal) problems.push(`exit status: ${r.status ?? `killed by ${r.signal}`}`);
  for (const [stream, text] of [['stderr', r.stderr], ['stdout', r.stdout]] as const) {
    for (const [re, what] of TRACES) {
      const hit = re.exec(text);
      if (hit) problems.push(`stack trace: ${what} on ${stream}: ${JSON.stringify(hit[0].trim())}`);
    }
  }
  const json = words.includes('--json');
  if (json && !r.timedOut) {
    try {
      const doc = JSON.parse(r.stdout) as { exitCode?: unknown };
      if (doc.exitCode !== r.status) problems.push(`json: exitCode ${String(doc.exitCode)} but the exit status is ${r.status}`);
    } catch (err) {
      problems.push(`json: stdout is not one JSON document (${(err as Error).message.split('\n')[0]})${r.stdout === '' ? ': stdout is empty' : ''}`);
    }
  }
  if (!json && !words.includes('-v') && !words.includes('--verbose') && r.stdout !== '') problems.push('stdout: output without -v or --json');
  // A line of its own, or after the progress bar's "clear the line" (\r ESC[K).
  if (r.status !== 0 && !r.timedOut && !/(^|\r)(\x1b\[[0-9;]*[A-Za-z])*tscp: /m.test(r.stderr)) problems.push(`silent failure: exit ${r.status} with no 'tscp: ' line on stderr`);
  for (const [p, { was, newcomers }] of before) {
    const now = snapshot(p, newcomers);
    if (now !== was) problems.push(`SOURCE changed: ${shown(p)}: was ${shown(was)}, now ${shown(now)}`);
  }
  const devs = devices();
  if (devs !== DEVICES) {
    problems.push(`devices changed: ${devs}`);
    // Put the machine right before anything else runs (null is 1:3, zero 1:5).
    for (const [d, minor] of [['/dev/null', 3], ['/dev/zero', 5]] as const) {
      const st = fs.lstatSync(d);
      if (!st.isCharacterDevice() || st.rdev !== ((1 << 8) | minor)) {
        fs.rmSync(d, { force: true });
        execFileSync('mknod', ['-m', '666', d, 'c', '1', String(minor)]);
      }
    }
  }
  if (!r.timedOut) {
    const temps = built.dirs.flatMap(leftTemps);
    if (temps.length) problems.push(`temporary file left: ${temps.map(shown).join(', ')}`);
  }
  for (const d of built.dirs) fs.rmSync(d, { recursive: true, force: true });
  return {
    index,
    command: printable(command),
    status: r.status,
    signal: r.signal,
    timedOut: r.timedOut,
    ms: r.ms,
    stdout: printable(shown(r.stdout)),
    stderr: printable(shown(r.stderr)),
    problems: problems.map(printable),
    skippedSameFile,
  };
}

// ---------------------------------------------------------------------------------------
// The run

const xfs = mountFs(t, 'xfs', 512);
const ext4 = mountFs(t, 'ext4', 256);

if (xfs && ext4) {
  const m: Mounts = { xfs, ext4 };
  for (const where of ['xfs', 'ext4'] as const) {
    const dir = path.join(m[where], 'tpl');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'empty'), '');
    fs.writeFileSync(path.join(dir, 'one'), seededBytes(1, 1));
    fs.writeFileSync(path.join(dir, 'odd'), seededBytes(4097, 2));
    fs.writeFileSync(path.join(dir, 'mib'), seededBytes(M, 3));
    // 4 MiB, data only at [0, 4 KiB) and [2 MiB, 2 MiB + 8 KiB): the rest is holes.
    const fd = fs.openSync(path.join(dir, 'sparse'), 'w');
    fs.writeSync(fd, seededBytes(4 * K, 4), 0, undefined, 0);
    fs.writeSync(fd, seededBytes(8 * K, 5), 0, undefined, 2 * M);
    fs.ftruncateSync(fd, 4 * M);
    fs.closeSync(fd);
  }

  t.test(`${ONLY ? ONLY.length : CASES} hostile command lines (seed ${SEED.toString(16)})`, async (t) => {
    const indexes = ONLY ?? Array.from({ length: CASES }, (_, i) => i);
    const outcomes: Outcome[] = [];
    const began = performance.now();
    let next = 0;
    // A broken harness (not tscp) stops every worker, so nothing runs on while the mounts go.
    let harnessError: unknown;
    const worker = async () => {
      while (next < indexes.length && harnessError === undefined) {
        const index = indexes[next++]!;
        try {
          outcomes.push(await runCase(index, m));
        } catch (err) {
          harnessError ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (harnessError !== undefined) throw harnessError;
    const seconds = (performance.now() - began) / 1000;
    outcomes.sort((a, b) => a.index - b.index);

    const failed = outcomes.filter((o) => o.problems.length > 0);
    const statuses = new Map<string, number>();
    for (const o of outcomes) {
      const key = o.timedOut ? 'timeout' : String(o.status ?? o.signal);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    const slowest = outcomes.reduce((a, b) => (b.ms > a.ms ? b : a));
    t.comment(
      `${outcomes.length} cases in ${seconds.toFixed(1)} s, ${CONCURRENCY} at a time; exit statuses: ` +
        [...statuses].sort().map(([k, n]) => `${k} x${n}`).join(', ') +
        `; ${outcomes.filter((o) => o.stdout.trimStart().startsWith('{')).length} printed JSON; ` +
        `${outcomes.reduce((s, o) => s + o.skippedSameFile, 0)} same-file range writes not checked as SOURCE; ` +
        `slowest case #${slowest.index} ${(slowest.ms / 1000).toFixed(1)} s`,
    );

    if (failed.length) {
      // Failure classes: the kind of problem and the first stderr line, numbers and quoted names blurred.
      const classes = new Map<string, number[]>();
      for (const o of failed) {
        const line = o.stderr.split('\n').find((l) => l.trim()) ?? '';
        for (const p of o.problems) {
          const kind = p.replace(/:.*$/s, '');
          const key = `${kind}: ${p.startsWith('stack trace') ? p.replace(/^[^:]*: /, '') : line.replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N').slice(0, 160)}`;
          classes.set(key, [...(classes.get(key) ?? []), o.index]);
        }
      }
      t.comment(
        ['failure classes (problem: first stderr line) -> cases', ...[...classes].map(([k, ix]) => `  ${k} -> #${ix.slice(0, 12).join(' #')}${ix.length > 12 ? ` (+${ix.length - 12})` : ''}`)].join('\n'),
      );
      const head = (s: string, n: number) => s.split('\n').filter((l) => l.trim()).slice(0, n).map((l) => `      ${l.slice(0, 300)}`);
      t.comment(
        [
          `failing cases (reproduce one with TSCP_HOSTILE_ONLY=<index>; $XFS is ${xfs}, $EXT4 is ${ext4}, both gone after the run):`,
          ...failed.flatMap((o) => [
            `  #${o.index}: ${o.command}`,
            `    -> ${o.timedOut ? 'timed out' : `exit ${o.status ?? o.signal}`} in ${(o.ms / 1000).toFixed(1)} s`,
            ...o.problems.map((p) => `    ! ${p.slice(0, 400)}`),
            ...(o.stderr.trim() ? ['    stderr:', ...head(o.stderr, 6)] : []),
            ...(o.stdout.trim() ? ['    stdout:', ...head(o.stdout, 3)] : []),
          ]),
        ].join('\n'),
      );
    }
    if (process.env.TSCP_HOSTILE_DEBUG) for (const o of outcomes) t.comment(`#${o.index} ${o.ms.toFixed(0)} ms exit ${o.status}: ${o.command}`);
    t.comment(`hostile input: ${outcomes.length} command lines tried, ${failed.length} failed`);
    t.equal(failed.length, 0, `hostile input: ${outcomes.length} command lines tried, ${failed.length} failed`);
  });
}
