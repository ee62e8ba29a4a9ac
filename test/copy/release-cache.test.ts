/**
 * Before an existing DEST is replaced, its page cache is dropped when all of it is clean
 * (cachestat(2), then posix_fadvise(DONTNEED)), so the copy reuses those pages as cp's
 * truncate lets it. On a loop-mounted ext4, with the real kernel; a Sys wrapping linuxSys
 * only records the calls.
 *
 *   sys       cacheState() sees a written file's pages dirty, clean after fsync; dropCache()
 *             empties the cache of a clean file
 *   clean     a cached, clean 4 MiB DEST: the old inode (held open) has no page cached
 *             after the copy; DEST holds SOURCE's bytes
 *   dirty     a DEST with dirty pages: not dropped (no writeback started for data about to
 *             be unlinked); its pages are still cached after the copy
 *   small     a DEST under 1 MiB: the cache is not even asked about
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { copy } from '../../src/copy/copy.js';
import { linuxSys, type CacheState, type Sys } from '../../src/sys/index.js';
import { mountFs, writeRandom } from '../helpers/fs.js';
import { MiB } from '../helpers/faults.js';

/** linuxSys recording what cacheState answered and each dropCache. */
function recording(): { sys: Sys; states: CacheState[]; drops: number } {
  const seen = { states: [] as CacheState[], drops: 0 };
  const sys: Sys = {
    ...linuxSys,
    cacheState(fd) {
      const state = linuxSys.cacheState(fd);
      seen.states.push(state);
      return state;
    },
    dropCache(fd) {
      seen.drops++;
      linuxSys.dropCache(fd);
    },
  };
  return {
    sys,
    get states() {
      return seen.states;
    },
    get drops() {
      return seen.drops;
    },
  };
}

/** A file of `size` random bytes, on disk and clean, then read whole so that it is cached. */
function cleanCached(file: string, size: number): void {
  writeRandom(file, size);
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  fs.readSync(fd, Buffer.alloc(size), 0, size, 0);
  fs.closeSync(fd);
}

const mnt = mountFs(t, 'ext4');
if (mnt) {
  let n = 0;
  const caseDir = (): string => {
    const dir = path.join(mnt, `cache-${n++}`);
    fs.mkdirSync(dir);
    return dir;
  };

  t.test('sys: cacheState() tells dirty from clean; dropCache() empties a clean file', async (t) => {
    const file = path.join(caseDir(), 'f');
    writeRandom(file, 2 * MiB);
    const fd = fs.openSync(file, 'r+');
    t.teardown(() => fs.closeSync(fd));
    const written = linuxSys.cacheState(fd);
    t.equal(written.cached, 512, 'all 512 pages cached');
    t.ok(written.dirty + written.writeback > 0, 'some dirty or under writeback before fsync');
    fs.fsyncSync(fd);
    const synced = linuxSys.cacheState(fd);
    t.same([synced.cached, synced.dirty, synced.writeback], [512, 0, 0], 'all cached, none dirty after fsync');
    linuxSys.dropCache(fd);
    t.equal(linuxSys.cacheState(fd).cached, 0, 'no page cached after dropCache');
  });

  /** A 4 MiB SOURCE and a DEST made by `makeDest`, held open by the test (the old inode, after). */
  const replaceCase = (t: Test, makeDest: (file: string) => void) => {
    const dir = caseDir();
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    writeRandom(src, 4 * MiB);
    makeDest(dst);
    const oldFd = fs.openSync(dst, 'r');
    t.teardown(() => fs.closeSync(oldFd));
    return { src, dst, oldFd };
  };

  t.test('a clean, cached DEST: its pages are dropped before the copy', async (t) => {
    const { src, dst, oldFd } = replaceCase(t, (f) => cleanCached(f, 4 * MiB));
    t.equal(linuxSys.cacheState(oldFd).cached, 1024, 'DEST wholly cached before');

    const rec = recording();
    await copy(src, dst, { sys: rec.sys });

    t.ok(fs.readFileSync(dst).equals(fs.readFileSync(src)), "DEST holds SOURCE's bytes");
    t.equal(fs.fstatSync(oldFd).nlink, 0, 'the old file was replaced');
    t.equal(rec.drops, 1, 'one dropCache');
    t.equal(linuxSys.cacheState(oldFd).cached, 0, 'the old file has no page cached left');
  });

  t.test('a DEST with dirty pages is left cached (no writeback for data about to go)', async (t) => {
    const { src, dst, oldFd } = replaceCase(t, (f) => writeRandom(f, 4 * MiB));
    const before = linuxSys.cacheState(oldFd);
    // Dirty data waits 30 s (dirty_expire_centisecs) before the kernel writes it out itself.
    t.ok(before.dirty + before.writeback > 0, 'DEST dirty before the copy');

    const rec = recording();
    await copy(src, dst, { sys: rec.sys });

    t.ok(fs.readFileSync(dst).equals(fs.readFileSync(src)), "DEST holds SOURCE's bytes");
    t.equal(rec.states.length, 1, 'the cache was asked about');
    t.ok(rec.states[0]!.dirty + rec.states[0]!.writeback > 0, 'and answered dirty');
    t.equal(rec.drops, 0, 'no dropCache');
    t.ok(linuxSys.cacheState(oldFd).cached > 0, 'the old file is still cached');
  });

  t.test('a DEST under 1 MiB: its cache is not asked about', async (t) => {
    const dir = caseDir();
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    writeRandom(src, 512 * 1024);
    cleanCached(dst, 512 * 1024);
    const rec = recording();
    await copy(src, dst, { sys: rec.sys });
    t.ok(fs.readFileSync(dst).equals(fs.readFileSync(src)), "DEST holds SOURCE's bytes");
    t.same([rec.states.length, rec.drops], [0, 0], 'neither cacheState nor dropCache');
  });
}
