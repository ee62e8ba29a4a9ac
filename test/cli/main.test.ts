/**
 * main() in-process with a fake Proc: argv, env, and stdout/stderr that collect strings.
 * Copies are real, in a scratch directory under /var/tmp (ext4 here: no reflink).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { main, type Proc } from '../../src/cli/main.js';

const PKG = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface Teardown {
  teardown(fn: () => void): void;
}

interface Fake {
  proc: Proc;
  stdout: () => string;
  stderr: () => string;
  /** Signal listeners main() registered and later removed. */
  on: string[];
  off: string[];
}

function fake(args: string[], more: Partial<Proc> = {}): Fake {
  const out: string[] = [];
  const err: string[] = [];
  const on: string[] = [];
  const off: string[] = [];
  const proc = {
    argv: ['node', 'tscp', ...args],
    env: {},
    stdout: { write: (s: string | Uint8Array) => (out.push(String(s)), true) },
    stderr: { write: (s: string | Uint8Array) => (err.push(String(s)), true) },
    on: (sig: string) => void on.push(sig),
    off: (sig: string) => void off.push(sig),
    ...more,
  } as unknown as Proc;
  return { proc, stdout: () => out.join(''), stderr: () => err.join(''), on, off };
}

async function run(args: string[], more: Partial<Proc> = {}): Promise<{ code: number; stdout: string; stderr: string; f: Fake }> {
  const f = fake(args, more);
  const code = await main(f.proc);
  return { code, stdout: f.stdout(), stderr: f.stderr(), f };
}

function scratch(t: Teardown): { dir: string; src: string; data: Buffer } {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'tscp-unit-main-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src.bin');
  const data = randomBytes(256 * 1024);
  fs.writeFileSync(src, data);
  return { dir, src, data };
}

/** Every option the README and man page document, plus the output options main.ts defines. */
const OPTIONS = [
  '--reflink',
  '--copy',
  '--dedupe',
  '-s, --src-offset',
  '-d, --dst-offset',
  '-l, --length',
  '-v, --verbose',
  '-q, --quiet',
  '-V, --version',
  '-h, --help',
  '--json',
  '--progress',
  '--no-progress',
  '--inplace',
  '--fsync',
];

t.test('--help lists every option and exits 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = await run([flag]);
    t.equal(r.code, 0, `${flag}: exit 0`);
    t.equal(r.stderr, '', `${flag}: nothing on stderr`);
    t.match(r.stdout, /^Usage: tscp \[options\] SOURCE DEST/);
    for (const o of OPTIONS) t.ok(r.stdout.includes(o), `${flag} lists ${o}`);
    t.match(r.stdout, /auto/);
    t.match(r.stdout, /always/);
    t.match(r.stdout, /never/);
    t.match(r.stdout, /Exit status/);
  }
  const withOthers = await run(['--help', 'a', 'b']);
  t.equal(withOthers.code, 0, 'help wins over operands');
  t.notOk(fs.existsSync('b'));
});

t.test('--version prints the package version', async (t) => {
  for (const flag of ['--version', '-V']) {
    const r = await run([flag]);
    t.equal(r.code, 0);
    t.equal(r.stdout, `${PKG.version}\n`);
    t.equal(r.stderr, '');
  }
});

t.test('usage errors: exit 2, "tscp: " on stderr, nothing created', async (t) => {
  const { dir, src } = scratch(t);
  const dst = path.join(dir, 'dst.bin');
  const cases: [string, string[], RegExp][] = [
    ['no operands', [], /missing file operand/],
    ['one operand', [src], /missing destination file operand after/],
    ['three operands onto a missing directory', [src, dst, path.join(dir, 'third')], /target '.*third' is not a directory/],
    ['unknown option', ['--bogus', src, dst], /unknown option '--bogus'/],
    ['bad --reflink value', ['--reflink=sometimes', src, dst], /sometimes/],
    ['--copy with --reflink=always', ['--copy', '--reflink=always', src, dst], /--copy conflicts with --reflink=always/],
    ['--dedupe with --copy', ['--dedupe', '--copy', src, dst], /--dedupe cannot be combined with --copy/],
    ['--dedupe with --reflink', ['--dedupe', '--reflink=auto', src, dst], /--dedupe cannot be combined with --reflink/],
    ['-v with -q', ['-v', '-q', src, dst], /--verbose and --quiet/],
    ['non-numeric size', ['-s', 'abc', src, dst], /not a number/],
    ['fractional size', ['-l', '1.5', src, dst], /whole number/],
    ['unknown suffix', ['-d', '4X', src, dst], /unknown suffix/],
    ['size past 2^63-1', ['-l', '9223372036854775808', src, dst], /largest file offset/],
    ['offset + length past 2^63-1', ['-s', '9223372036854775807', '-l', '1', src, dst], /--src-offset \+ --length is past/],
    ['missing option value', [src, dst, '-l'], /argument missing/],
  ];
  for (const [name, args, message] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.ok(r.stderr.startsWith('tscp: '), `${name}: stderr starts with 'tscp: ' (${JSON.stringify(r.stderr.split('\n')[0])})`);
    t.match(r.stderr, message, `${name}: says why`);
    t.match(r.stderr, /Try 'tscp --help' for more information\.\n$/, `${name}: points to --help`);
    t.notMatch(r.stderr, /^error:/m, `${name}: no commander "error:" prefix`);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
    t.same(fs.readdirSync(dir), ['src.bin'], `${name}: nothing created`);
    t.same(r.f.on, [], `${name}: no signal handler installed`);
  }
});

t.test('a real copy with -v: exit 0 and one line on stdout', async (t) => {
  const { dir, src, data } = scratch(t);
  const dst = path.join(dir, 'dst.bin');
  const r = await run(['-v', src, dst]);
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  t.ok(fs.readFileSync(dst).equals(data), 'DEST has the bytes');
  t.equal(r.stdout.split('\n').length, 2, 'one line');
  t.ok(r.stdout.startsWith(`'${src}' -> '${dst}': 256 KiB, `), r.stdout);
  t.match(r.stdout, /copied in-kernel \(copy_file_range\) after reflink was refused \(EOPNOTSUPP\)/);
  t.same(r.f.on.sort(), ['SIGHUP', 'SIGINT', 'SIGTERM'], 'signal handlers installed');
  t.same(r.f.off.sort(), r.f.on.sort(), 'and removed');
  t.same(
    fs.readdirSync(dir).filter((n) => n.startsWith('.tscp-')),
    [],
    'no temporary file',
  );

  const quiet = await run([src, path.join(dir, 'q.bin')]);
  t.equal(quiet.code, 0);
  t.equal(quiet.stdout, '', 'without -v: nothing on stdout');
  t.equal(quiet.stderr, '');
  const q = await run(['-q', src, path.join(dir, 'q2.bin')]);
  t.equal(q.code, 0);
  t.equal(q.stdout + q.stderr, '', '-q: nothing at all');
});

t.test('into a directory, a range, a file named like an option', async (t) => {
  const { dir, src, data } = scratch(t);
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  t.equal((await run([src, sub])).code, 0);
  t.ok(fs.readFileSync(path.join(sub, 'src.bin')).equals(data));

  const head = path.join(dir, 'head.bin');
  const r = await run(['-s', '1K', '-l', '0x10', src, head]);
  t.equal(r.code, 0);
  t.ok(fs.readFileSync(head).equals(data.subarray(1024, 1040)));

  const dashed = path.join(dir, '-v');
  fs.writeFileSync(dashed, 'dash');
  const prev = process.cwd();
  process.chdir(dir);
  try {
    const d = await run(['--', '-v', 'dash-copy']);
    t.equal(d.code, 0, d.stderr);
  } finally {
    process.chdir(prev);
  }
  t.equal(fs.readFileSync(path.join(dir, 'dash-copy'), 'utf8'), 'dash');
});

t.test('a missing SOURCE: exit 1 with (ENOENT), nothing created', async (t) => {
  const { dir } = scratch(t);
  const missing = path.join(dir, 'missing');
  const dst = path.join(dir, 'dst.bin');
  const r = await run([missing, dst]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.equal(r.stderr, `tscp: cannot stat '${missing}': No such file or directory (ENOENT)\n`);
  t.match(r.stderr, '(ENOENT)');
  t.notOk(fs.existsSync(dst));
});

t.test('engine errors: exit 1 with the errno', async (t) => {
  const { dir, src } = scratch(t);
  const dst = path.join(dir, 'dst.bin');
  // A bare --reflink means always (and does not swallow SOURCE as its value).
  const bare = await run(['--reflink', src, dst]);
  t.equal(bare.code, 1, bare.stderr);
  t.match(bare.stderr, /^tscp: cannot reflink '.*src\.bin' to '.*dst\.bin': Operation not supported \(EOPNOTSUPP\)\n$/);
  t.notOk(fs.existsSync(dst));

  const past = await run(['-s', '1M', src, dst]);
  t.equal(past.code, 1);
  t.match(past.stderr, /^tscp: cannot copy .*past the end of SOURCE.*\(EINVAL\)\n$/);
  t.notOk(fs.existsSync(dst));

  const same = await run([src, src]);
  t.equal(same.code, 1);
  t.match(same.stderr, /are the same file/);

  fs.writeFileSync(dst, 'different');
  const dedupe = await run(['--dedupe', src, dst]);
  t.equal(dedupe.code, 3, 'contents differ: exit 3');
  t.match(dedupe.stderr, /\(EILSEQ\)/);
});

t.test('a signal during the copy: exit 128+N, DEST left as it was', async (t) => {
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    const { dir, src } = scratch(t);
    const dst = path.join(dir, 'dst.bin');
    fs.writeFileSync(dst, 'old');
    // The signal arrives as soon as main() listens for it: before the first chunk.
    const f = fake([src, dst]);
    const on = f.proc.on!.bind(f.proc);
    f.proc.on = (event, listener) => {
      on(event, listener);
      if (event === sig) listener(sig);
    };
    const exit = await main(f.proc);
    t.equal(exit, code, `${sig}: exit ${code}`);
    t.match(f.stderr(), new RegExp(`^tscp: interrupted by ${sig} after 0 bytes .*DEST left as it was\\n$`));
    t.equal(fs.readFileSync(dst, 'utf8'), 'old', `${sig}: DEST unchanged`);
    t.same(fs.readdirSync(dir).sort(), ['dst.bin', 'src.bin'], `${sig}: no temporary file`);
    t.same(f.off.sort(), ['SIGHUP', 'SIGINT', 'SIGTERM'], `${sig}: handlers removed`);
  }
});

t.test('--json', async (t) => {
  const { dir, src } = scratch(t);
  const dst = path.join(dir, 'dst.bin');
  const ok = await run(['--json', src, dst]);
  t.equal(ok.code, 0);
  const report = JSON.parse(ok.stdout);
  t.match(report, { schema: 1, ok: true, exitCode: 0, source: src, dest: dst, mode: 'auto', totalBytes: 256 * 1024, error: null });
  t.equal(report.bytes.copyFileRange, 256 * 1024);

  const bad = await run(['--json', '--bogus', src, dst]);
  t.equal(bad.code, 2);
  t.match(JSON.parse(bad.stdout), { ok: false, exitCode: 2, error: { kind: 'usage' } });
  t.ok(bad.stderr.startsWith('tscp: '));

  const missing = await run(['--json', path.join(dir, 'nope'), path.join(dir, 'x')]);
  t.equal(missing.code, 1);
  t.match(JSON.parse(missing.stdout), { ok: false, exitCode: 1, error: { kind: 'system', code: 'ENOENT' } });
});

t.test('an unexpected exception (a bug) is one line and exit 1, never a stack trace', async (t) => {
  // The fault: a process object that throws when a signal handler is installed. No real
  // input reaches such a bug on purpose; this stands for any exception nobody planned for.
  const broken = (args: string[]) => {
    const f = fake(args);
    f.proc.on = () => {
      throw new TypeError('on exploded');
    };
    return f;
  };
  const { dir, src } = scratch(t);
  const dst = path.join(dir, 'out');
  const plain = broken([src, dst]);
  t.equal(await main(plain.proc), 1, 'exit 1');
  t.equal(plain.stderr(), 'tscp: internal error: TypeError: on exploded\n', 'one line, no stack');
  t.equal(plain.stdout(), '');
  const json = broken(['--json', src, dst]);
  t.equal(await main(json.proc), 1, '--json: exit 1');
  t.match(JSON.parse(json.stdout()), { ok: false, exitCode: 1, error: { kind: 'internal', message: 'internal error: TypeError: on exploded' } }, '--json: the document');
  t.notOk(fs.existsSync(dst), 'no DEST');
  t.same(fs.readdirSync(dir).filter((n) => n.startsWith('.tscp-')), [], 'no temporary file');
});

t.test('--json is read where commander reads it', async (t) => {
  const { asksForJson } = await import('../../src/cli/main.js');
  t.equal(asksForJson(['--json', 'a', 'b']), true);
  t.equal(asksForJson(['a', 'b', '--json']), true, 'after the operands');
  t.equal(asksForJson(['--', '--json', 'b']), false, 'after --, a file named --json');
  t.equal(asksForJson(['--length', '--', '--json', 'a', 'b']), true, '-- as the value of --length does not end the options');
  t.equal(asksForJson(['-s', '--json', 'a', 'b']), false, '--json as the value of -s is not the option');
  t.equal(asksForJson(['-vl', '--json', 'a', 'b']), false, 'nor as the value of a cluster ending in -l');
  t.equal(asksForJson(['--length=--', '--json', 'a', 'b']), true, 'a value given with = takes nothing after it');
  const r = await run(['--length', '--', '--json', 'a', 'b']);
  t.equal(r.code, 2, 'usage error');
  t.match(JSON.parse(r.stdout), { ok: false, exitCode: 2, error: { kind: 'usage' } }, 'and the JSON document it asked for');
});
