/**
 * The command line end to end: usage errors exit 2 with a 'tscp: ' message and touch
 * nothing; --version and --help; size suffixes reach the engine intact; the messages for
 * a missing SOURCE, a directory SOURCE and a missing DEST directory.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, scratchDir, tscp, writeRandom, type RunResult } from '../helpers/fs.js';

const K = 1024;

/** Everything in `dir` with its bytes and mtime, to prove a run touched nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    out[name] = st.isFile() ? `${st.size}:${st.mtimeMs}:${fs.readFileSync(p).toString('base64')}` : `${st.mode}`;
  }
  return out;
}

function usageError(t: Test, r: RunResult, what: string): void {
  t.equal(r.status, 2, `${what}: exit 2 (stderr: ${r.stderr.trim()})`);
  t.match(r.stderr, /^tscp: /, `${what}: stderr starts with 'tscp: '`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
}

t.test('usage errors exit 2, say why, and touch nothing', async (t) => {
  const dir = scratchDir(t);
  const src = path.join(dir, 'src');
  const existing = path.join(dir, 'existing');
  const missing = path.join(dir, 'missing');
  writeRandom(src, 64 * K);
  writeRandom(existing, 16 * K);
  // Old mtimes, so a rewrite with the same bytes would still show.
  fs.utimesSync(src, 1_000_000, 1_000_000);
  fs.utimesSync(existing, 1_000_000, 1_000_000);

  const cases: [string, string[], RegExp?][] = [
    ['unknown option', ['--bogus'], /unknown option/],
    ['unknown short option', ['-Z'], /unknown option/],
    ['-s -1', ['-s', '-1'], /negative|invalid/],
    ['-l 1.5', ['-l', '1.5'], /whole number|invalid/],
    ['-d abc', ['-d', 'abc'], /not a number|invalid/],
    ['-l 4X', ['-l', '4X'], /suffix|invalid/],
    ['-s 2^63', ['-s', '9223372036854775808'], /2\^63-1|larg/],
    ['-s 2^63-1 -l 1', ['-s', '9223372036854775807', '-l', '1'], /2\^63-1|larg/],
    ['-d 2^63-1 -l 1', ['-d', '9223372036854775807', '-l', '1'], /2\^63-1|larg/],
    ['-s 2^62 -l 2^62', ['-s', '4611686018427387904', '-l', '4611686018427387904'], /2\^63-1|larg/],
    ['--reflink=bogus', ['--reflink=bogus'], /bogus/],
    ['--copy --reflink=always', ['--copy', '--reflink=always'], /--copy/],
    ['--reflink=always --copy', ['--reflink=always', '--copy'], /--copy/],
    ['--copy bare --reflink', ['--copy', '--reflink'], /--copy/],
    ['--dedupe --copy', ['--dedupe', '--copy'], /--dedupe/],
    ['--dedupe --reflink=auto', ['--dedupe', '--reflink=auto'], /--dedupe/],
    ['-v -q', ['-v', '-q'], /--verbose|--quiet/],
    ['--verbose --quiet', ['--verbose', '--quiet'], /--verbose|--quiet/],
  ];
  for (const [what, opts, why] of cases) {
    for (const dest of [missing, existing]) {
      const before = snapshot(dir);
      const r = tscp([...opts, src, dest]);
      const label = `${what} (${dest === missing ? 'missing' : 'existing'} DEST)`;
      usageError(t, r, label);
      if (why) t.match(r.stderr, why, `${label}: the message says why`);
      t.same(snapshot(dir), before, `${label}: nothing touched`);
    }
  }

  for (const [what, args] of [
    ['no operands', []],
    ['one operand', [src]],
    ['three operands', [src, missing, path.join(dir, 'third')]],
    ['three operands into an existing file', [src, existing, path.join(dir, 'third')]],
    ['only options', ['-l', '4K']],
  ] as [string, string[]][]) {
    const before = snapshot(dir);
    const r = tscp(args);
    usageError(t, r, what);
    t.same(snapshot(dir), before, `${what}: nothing touched`);
  }
});

t.test('-V prints the package version', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['-V', '--version']) {
    const r = tscp([flag]);
    t.equal(r.status, 0, `${flag}: exit 0`);
    t.equal(r.stdout.trim(), pkg.version, `${flag}: prints ${pkg.version}`);
    t.equal(r.stderr, '', `${flag}: nothing on stderr`);
  }
});

t.test('-h prints usage with every option and exits 0', async (t) => {
  for (const flag of ['-h', '--help']) {
    const r = tscp([flag]);
    t.equal(r.status, 0, `${flag}: exit 0`);
    t.equal(r.stderr, '', `${flag}: nothing on stderr`);
    t.match(r.stdout, /^Usage: tscp /, `${flag}: starts with Usage`);
    for (const opt of [
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
    ]) {
      t.ok(r.stdout.includes(opt), `${flag}: lists ${opt}`);
    }
  }
});

t.test('--help shows optional values as GNU cp does, attached with =: --reflink[=WHEN]', async (t) => {
  const help = tscp(['--help']).stdout;
  for (const [opt, value] of [['--reflink', 'WHEN'], ['--update', 'WHEN'], ['--preserve', 'LIST']]) {
    t.match(help, new RegExp(`^\\s+${opt}\\[=${value}\\]\\s`, 'm'), `${opt}[=${value}] in --help`);
    t.notMatch(help, new RegExp(`${opt} \\[`), `never "${opt} [${value}]" (with a space, which reads as a separate word)`);
  }
});

t.test("--reflink always a b: the value goes after '=', and tscp says so", async (t) => {
  const dir = scratchDir(t);
  writeRandom(path.join(dir, 'a'), 4 * K);
  fs.mkdirSync(path.join(dir, 'into'));
  for (const [word, rest] of [
    ['always', ['a', 'b']],
    ['never', ['a', 'b']],
    ['auto', ['a', 'b']],
    ['always', ['a', 'into']],
    ['never', ['-t', 'into', 'a']],
  ] as [string, string[]][]) {
    const before = snapshot(dir);
    const args = ['--reflink', word, ...rest];
    const r = tscp(args, { cwd: dir });
    usageError(t, r, args.join(' '));
    t.equal(
      r.stderr,
      `tscp: use --reflink=${word}: a WHEN goes after '=' (a bare --reflink means always, and '${word}' was taken for a SOURCE)\nTry 'tscp --help' for more information.\n`,
      `${args.join(' ')}: one line saying use --reflink=${word}, then Try 'tscp --help'`,
    );
    t.same(snapshot(dir), before, `${args.join(' ')}: nothing touched`);
  }
  // A file really named 'always' is a SOURCE like any other: no hint, the copy is done.
  writeRandom(path.join(dir, 'always'), 4 * K);
  const r = tscp(['--reflink', 'always', 'a', 'into'], { cwd: dir });
  t.notMatch(r.stderr, /use --reflink=/, "with a file named 'always', no hint");
  t.ok(
    r.status === 0 ? fs.existsSync(path.join(dir, 'into', 'always')) : /cannot reflink 'always'/.test(r.stderr),
    `it is taken as a SOURCE: reflinked, or refused by this filesystem (${r.status}: ${r.stderr.trim()})`,
  );
});

t.test('size suffixes end to end', async (t) => {
  const dir = scratchDir(t);
  const src = path.join(dir, 'src');
  writeRandom(src, 64 * K);
  const data = fs.readFileSync(src);
  const cases: [string[], number, number, number][] = [
    // [args, srcOffset, dstOffset, length] as the engine should see them.
    [['-l', '4K'], 0, 0, 4096],
    [['-l', '4KiB'], 0, 0, 4096],
    [['-l', '1KB'], 0, 0, 1000],
    [['-s', '0x10', '-l', '0x20'], 16, 0, 32],
    [['-s', '0x1f', '-l', '7'], 31, 0, 7],
    [['--src-offset=1K', '--dst-offset=2K', '--length=3K'], 1024, 2048, 3072],
    [['-s', '2KB', '-d', '0x100', '-l', '10'], 2000, 256, 10],
    [['-s', '63K'], 63 * 1024, 0, 1024],
    [['-d', '1M', '-l', '1'], 0, 1024 * 1024, 1],
  ];
  let i = 0;
  for (const [args, s, d, l] of cases) {
    const dest = path.join(dir, `out${i++}`);
    const r = tscp([...args, src, dest]);
    t.equal(r.status, 0, `${args.join(' ')}: exit 0 (stderr: ${r.stderr.trim()})`);
    const want = Buffer.alloc(d + l);
    data.copy(want, d, s, s + l);
    const got = fs.existsSync(dest) ? fs.readFileSync(dest) : Buffer.alloc(0);
    t.equal(got.length, d + l, `${args.join(' ')}: DEST is ${d + l} bytes`);
    t.ok(got.equals(want), `${args.join(' ')}: bytes [${s}, ${s + l}) at ${d}`);
  }
});

t.test('missing SOURCE: exit 1 with the errno', async (t) => {
  const dir = scratchDir(t);
  const r = tscp(['x', 'y'], { cwd: dir });
  t.equal(r.status, 1, 'exit 1');
  // Named alone, as cp does: the failure is SOURCE's, not the copy's to DEST.
  t.equal(r.stderr, "tscp: cannot stat 'x': No such file or directory (ENOENT)\n", 'message');
  t.equal(r.stdout, '', 'nothing on stdout');
  t.same(fs.readdirSync(dir), [], 'DEST not created');
  const r2 = tscp(['-s', '0', '-l', '1', 'x', 'y'], { cwd: dir });
  t.equal(r2.status, 1, 'range from a missing SOURCE: exit 1');
  t.equal(r2.stderr, "tscp: cannot stat 'x': No such file or directory (ENOENT)\n", 'range from a missing SOURCE: the same line');
  t.same(fs.readdirSync(dir), [], 'range: DEST not created');
});

t.test('SOURCE a directory: exit 1 EISDIR', async (t) => {
  const dir = scratchDir(t);
  fs.mkdirSync(path.join(dir, 'd'));
  for (const args of [
    ['d', 'out'],
    ['-s', '0', '-l', '1', 'd', 'out'],
  ]) {
    const r = tscp(args, { cwd: dir });
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    // As cp: a whole directory without -r is "omitted"; a range of one is simply EISDIR.
    const expected = args.length === 2 ? /^tscp: -r not specified; omitting directory 'd'\n$/ : /^tscp: cannot copy 'd' to 'out': .*\(EISDIR\)\n$/;
    t.match(r.stderr, expected, `${args.join(' ')}: cp's message`);
    t.same(fs.readdirSync(dir), ['d'], `${args.join(' ')}: DEST not created`);
  }
});

t.test("DEST's parent missing: exit 1 ENOENT", async (t) => {
  const dir = scratchDir(t);
  writeRandom(path.join(dir, 'src'), 10 * K);
  for (const args of [
    ['src', 'nodir/out'],
    ['-s', '0', '-l', '1K', 'src', 'nodir/out'],
  ]) {
    const r = tscp(args, { cwd: dir });
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    t.equal(r.stderr, "tscp: cannot copy 'src' to 'nodir/out': No such file or directory (ENOENT)\n", `${args.join(' ')}: message`);
    t.same(fs.readdirSync(dir), ['src'], `${args.join(' ')}: nothing created`);
  }
});

t.test("DEST with a trailing slash that is not a directory fails before any byte is copied", async (t) => {
  const dir = scratchDir(t);
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  // SOURCE /dev/zero never ends: only a check made before copying can answer at all.
  for (const dest of ['nosuchdir/', 'file/']) {
    const r = tscp(['/dev/zero', dest], { cwd: dir, timeout: 20_000 });
    t.equal(r.signal, null, `${dest}: answered, not killed by the timeout`);
    t.equal(r.status, 1, `${dest}: exit 1`);
    t.equal(r.stderr, `tscp: cannot create regular file '${dest}': Not a directory (ENOTDIR)\n`, `${dest}: cp's words`);
  }
  t.same(fs.readdirSync(dir), ['file'], 'nothing created');
  t.equal(fs.readFileSync(path.join(dir, 'file'), 'utf8'), 'x', 'the file is untouched');
  // Trees and several sources: DEST under a regular file is refused up front, one line.
  for (const [args, line] of [
    [['-r', 'file', 'file/'], "tscp: cannot stat 'file/': Not a directory (ENOTDIR)"],
    [['-a', 'file', 'file/x'], "tscp: cannot stat 'file/x': Not a directory (ENOTDIR)"],
    [['-t', 'file/', 'file'], "tscp: target directory 'file/': Not a directory (ENOTDIR)"],
    [['file', 'file', 'file/x'], "tscp: cannot stat 'file/x': Not a directory (ENOTDIR)"],
  ] as const) {
    const r = tscp([...args], { cwd: dir });
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.equal(r.stderr.split('\n')[0], line, `${args.join(' ')}: cp's words, no stack trace`);
  }
  fs.mkdirSync(path.join(dir, 'd'));
  const ok = tscp(['file', 'd/'], { cwd: dir });
  t.equal(ok.status, 0, 'a real directory with a slash: copied into it');
  t.equal(fs.readFileSync(path.join(dir, 'd', 'file'), 'utf8'), 'x');
});
