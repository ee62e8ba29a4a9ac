/**
 * The floor of bench/tree-floor.js: the system calls tscp -a makes for each directory and
 * file of a tree of regular files, in one thread, through the same bindings (dist/sys),
 * with nothing else around them. Not a copier: no errors handled, no fallbacks, no holes.
 *
 *   node bench/lib/floor-loop.js SRC DEST
 */
import fs from 'node:fs';
import path from 'node:path';
import { linuxSys as sys, O_TMPFILE } from '../../dist/sys/index.js';

const { O_RDONLY, O_WRONLY, O_NOCTTY } = fs.constants;
const CHUNK = 16 * 1024 * 1024;

function copyFile(src, destDir, dest) {
  const s = sys.open(src, O_RDONLY | O_NOCTTY);
  const st = sys.fstat(s);
  const t = sys.open(destDir, O_WRONLY | O_TMPFILE, 0o600);
  const size = Number(st.size);
  for (let off = 0; off < size; ) {
    const n = sys.copyFileRange(s, off, t, off, Math.min(size - off, CHUNK));
    if (n <= 0) break;
    off += n;
  }
  sys.fstat(s); // SOURCE unchanged during the copy
  sys.setTimes(t, st.atimeNs, st.mtimeNs);
  sys.listXattrs(s);
  sys.fchmod(t, st.mode & 0o7777);
  sys.linkFd(t, dest);
  sys.close(t);
  sys.close(s);
}

function copyDir(src, dest) {
  sys.mkdir(dest, 0o700);
  const st = sys.stat(src, false);
  for (const name of fs.readdirSync(src)) {
    const from = path.join(src, name);
    const to = path.join(dest, name);
    const entry = sys.stat(from, false);
    if (entry.isDirectory) copyDir(from, to);
    else copyFile(from, dest, to);
  }
  sys.setTimes(dest, st.atimeNs, st.mtimeNs);
  sys.listXattrs(src);
  sys.chmod(dest, st.mode & 0o7777);
}

const [src, dest] = process.argv.slice(2);
copyDir(src, dest);
