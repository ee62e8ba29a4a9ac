/**
 * The single-file options on trees, on a real XFS (reflink=1) and ext4: --dedupe of two
 * trees pairs files by relative path (shared extents checked with FIEMAP, exit 3 when a
 * pair differs), --reflink=always fails file by file where extents cannot be shared,
 * --copy shares nothing, --inplace keeps existing files' inodes, and the progress line of
 * a tree shows files and bytes.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, mountFs, sha256, sharedBytes, writeRandom } from '../helpers/fs.js';

const K = 1024;

function run(args: string[], cwd: string) {
  const env = { ...process.env, FORCE_COLOR: '0' };
  // tap's loader hooks would be loaded into every worker thread too: run the binary clean.
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function makeTree(root: string): string[] {
  const files = ['a', 'b/c', 'b/d/e', 'f g'];
  for (const [i, rel] of files.entries()) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeRandom(path.join(root, rel), (i + 1) * 64 * K);
  }
  fs.symlinkSync('a', path.join(root, 'link'));
  return files;
}

const xfs = mountFs(t, 'xfs');
const ext4 = mountFs(t, 'ext4', 512);

t.test('--dedupe of two trees shares each pair of equal files, by relative path', async (t) => {
  if (!xfs) return;
  const dir = fs.mkdtempSync(path.join(xfs, 'dedupe-'));
  const files = makeTree(path.join(dir, 'one'));
  let r = run(['-r', '--copy', 'one', 'two'], dir);
  t.equal(r.status, 0, `an independent copy first (${r.stderr})`);
  for (const rel of files) t.equal(sharedBytes(path.join(dir, 'two', rel)), 0, `${rel}: nothing shared before`);

  r = run(['-r', '--dedupe', '--json', 'one', 'two'], dir);
  t.equal(r.status, 0, `dedupe exits 0 (${r.stderr})`);
  const doc = JSON.parse(r.stdout) as { kind: string; bytes: { deduplicated: number }; counts: { files: number } };
  const total = files.reduce((n, rel) => n + fs.statSync(path.join(dir, 'one', rel)).size, 0);
  t.equal(doc.bytes.deduplicated, total, 'every byte of every pair deduplicated');
  t.equal(doc.counts.files, files.length, 'one pair per file');
  for (const rel of files) {
    const size = fs.statSync(path.join(dir, 'two', rel)).size;
    t.equal(sharedBytes(path.join(dir, 'two', rel)), size, `${rel}: all of it shared afterwards (FIEMAP)`);
    t.equal(sha256(path.join(dir, 'two', rel)), sha256(path.join(dir, 'one', rel)), `${rel}: bytes unchanged`);
  }
  t.notOk(fs.existsSync(path.join(dir, 'two', 'one')), 'DEST is the other tree itself, not DEST/one');

  // One pair differs: exit 3, that path named, the others still shared.
  fs.writeFileSync(path.join(dir, 'two', 'b', 'c'), Buffer.alloc(128 * K, 7));
  r = run(['-r', '--dedupe', 'one', 'two'], dir);
  t.equal(r.status, 3, 'a pair that differs: exit 3');
  t.match(r.stderr, /b\/c/, 'the differing pair is named');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line for it');
});

t.test('--reflink=always on a tree: each file that cannot share fails, by name; on XFS all share', async (t) => {
  if (!xfs || !ext4) return;
  const onXfs = fs.mkdtempSync(path.join(xfs, 'always-'));
  const files = makeTree(path.join(onXfs, 'src'));
  let r = run(['-r', '--reflink=always', 'src', 'dst'], onXfs);
  t.equal(r.status, 0, `XFS: exit 0 (${r.stderr})`);
  for (const rel of files) t.equal(sharedBytes(path.join(onXfs, 'dst', rel)), fs.statSync(path.join(onXfs, 'src', rel)).size, `XFS: ${rel} shared`);

  const onExt4 = fs.mkdtempSync(path.join(ext4, 'always-'));
  makeTree(path.join(onExt4, 'src'));
  r = run(['-r', '--reflink=always', 'src', 'dst'], onExt4);
  t.equal(r.status, 1, 'ext4: exit 1');
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, files.length, `one line per regular file (${lines.length})`);
  for (const line of lines) t.match(line, /^tscp: cannot reflink '.*': Operation not supported \(EOPNOTSUPP\)$/, 'each names its file and EOPNOTSUPP');
  for (const rel of files) t.notOk(fs.existsSync(path.join(onExt4, 'dst', rel)), `ext4: no ${rel} left behind`);
  t.ok(fs.lstatSync(path.join(onExt4, 'dst', 'link')).isSymbolicLink(), 'the symlink, which has no extents, is still made');
});

t.test('--copy on a tree shares nothing; --inplace keeps existing inodes', async (t) => {
  if (!xfs) return;
  const dir = fs.mkdtempSync(path.join(xfs, 'copy-'));
  const files = makeTree(path.join(dir, 'src'));
  let r = run(['-r', '--copy', 'src', 'dst'], dir);
  t.equal(r.status, 0, r.stderr);
  for (const rel of files) t.equal(sharedBytes(path.join(dir, 'dst', rel)), 0, `${rel}: nothing shared`);

  const inodes = files.map((rel) => fs.statSync(path.join(dir, 'dst', rel)).ino);
  for (const rel of files) writeRandom(path.join(dir, 'src', rel), 32 * K);
  r = run(['-r', '--inplace', '-T', 'src', 'dst'], dir);
  t.equal(r.status, 0, r.stderr);
  files.forEach((rel, i) => {
    t.equal(fs.statSync(path.join(dir, 'dst', rel)).ino, inodes[i], `--inplace: ${rel} kept its inode`);
    t.equal(sha256(path.join(dir, 'dst', rel)), sha256(path.join(dir, 'src', rel)), `--inplace: ${rel} has the new bytes`);
  });
  // The same for one file: a reflink over a longer DEST in place must not keep its old tail.
  writeRandom(path.join(dir, 'long'), 256 * K);
  writeRandom(path.join(dir, 'short'), 8 * K);
  r = run(['--inplace', 'short', 'long'], dir);
  t.equal(r.status, 0, r.stderr);
  t.equal(fs.statSync(path.join(dir, 'long')).size, 8 * K, '--inplace reflink onto a longer file: DEST cut to SOURCE\'s size');
  t.equal(sha256(path.join(dir, 'long')), sha256(path.join(dir, 'short')), 'and equal to SOURCE');

  r = run(['-r', '-T', 'src', 'dst'], dir);
  t.equal(r.status, 0, r.stderr);
  t.not(fs.statSync(path.join(dir, 'dst', files[0]!)).ino, inodes[0], 'without --inplace an existing file is replaced by a new inode');
});

t.test('the progress line of a tree shows files and bytes found and done', async (t) => {
  if (!ext4) return;
  const dir = fs.mkdtempSync(path.join(ext4, 'progress-'));
  fs.mkdirSync(path.join(dir, 'src'));
  for (let i = 0; i < 24; i++) writeRandom(path.join(dir, 'src', `f${i}`), 8 * 1024 * K);
  // --progress draws even without a terminal; --copy keeps the copy slow enough to be seen.
  const r = run(['-r', '--copy', '--progress', '-j', '1', 'src', 'dst'], dir);
  t.equal(r.status, 0, r.stderr.slice(-300));
  t.match(r.stderr, /\d+\/\d+ files/, 'files done/found');
  t.match(r.stderr, /[\d.]+ [KMG]iB\/[\d.]+ [KMG]iB/, 'bytes done/found');
  t.match(r.stderr, /ETA/, 'an ETA');
  t.match(r.stderr, /\/s/, 'a rate');
});
