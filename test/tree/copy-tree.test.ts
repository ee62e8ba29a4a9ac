/**
 * The tree layer in one process (the in-process pool, with a Sys that records or injects):
 * the scheduler's order (a directory's metadata after its contents, cp's metadata order per
 * file), hard-link groups (later names linked once the first is in; copied on their own if
 * the first failed), directories read in slices, errors that name their path and let the
 * rest go on, and an abort. Real files in a scratch directory; the kernel's part is real.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { copyTree } from '../../src/tree/copy-tree.js';
import { LIST_SLICE } from '../../src/tree/tasks.js';
import { linuxSys, type Sys } from '../../src/sys/index.js';
import { sysError } from '../helpers/faults.js';

const ALL = { mode: true, ownership: true, timestamps: true, links: true, xattr: true };

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'tscp-unit-tree-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** linuxSys, with every call recorded as "name arg" (paths and fds as given). */
function recording(log: string[], overrides: Partial<Sys> = {}): Sys {
  const sys = { ...linuxSys, ...overrides } as Sys;
  const fdPaths = new Map<number, string>();
  const wrapped = { ...sys } as Record<string, unknown>;
  for (const [name, fn] of Object.entries(sys)) {
    if (typeof fn !== 'function') continue;
    wrapped[name] = (...args: unknown[]) => {
      const ret = (fn as (...a: unknown[]) => unknown)(...args);
      const first = args[0];
      const what = typeof first === 'number' ? (fdPaths.get(first) ?? `fd${first}`) : String(first);
      log.push(`${name} ${what}`);
      if (name === 'open' && typeof ret === 'number') fdPaths.set(ret, String(first));
      if (name === 'linkFd' && typeof first === 'number') fdPaths.set(first, `new:${String(args[1])}`);
      return ret;
    };
  }
  return wrapped as unknown as Sys;
}

t.test('a directory gets its times and mode after everything in it, files in cp order', async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'sub', 'a'), 'aaa');
  fs.writeFileSync(path.join(src, 'b'), 'bb');
  fs.chmodSync(path.join(src, 'sub'), 0o555);
  fs.utimesSync(path.join(src, 'sub'), 1_000_000, 1_000_000);
  const log: string[] = [];
  const r = await copyTree([src], path.join(dir, 'dst'), { recursive: true, preserve: ALL, sys: recording(log) });
  t.same(r.errors, [], 'no errors');
  const subDest = path.join(dir, 'dst', 'sub');
  // An O_TMPFILE file's descriptor was opened on its directory: its linkFd logs that directory.
  const fileLinked = log.findIndex((l) => l === `linkFd ${subDest}`);
  // (Its file's setTimes on the descriptor logs the directory too: the directory's own is the last.)
  const dirTimes = log.lastIndexOf(`setTimes ${subDest}`);
  const dirMode = log.lastIndexOf(`chmod ${subDest}`);
  t.ok(fileLinked >= 0 && dirTimes > fileLinked, `sub's times are set after sub/a is in (link at ${fileLinked}, times at ${dirTimes})`);
  t.ok(dirMode > dirTimes, 'and its mode after its times');
  t.equal(fs.statSync(subDest).mode & 0o777, 0o555, 'the 0555 directory was filled and then made 0555');
  t.equal(fs.statSync(subDest).mtimeMs, 1_000_000_000, "the directory's mtime is SOURCE's, not the time its entries were made");
  // Per file: bytes, then times, owner, xattrs (with the ACL), mode, and only then a name.
  const forB = log.filter((l) => /^(setTimes|fchown|listXattrs|fchmod|linkFd|copyFileRange|sendfile|ficlone) /.test(l));
  const order = forB.map((l) => l.split(' ')[0]);
  const idx = (n: string) => order.indexOf(n);
  t.ok(idx('setTimes') < idx('listXattrs') && idx('listXattrs') < idx('fchmod') && idx('fchmod') < idx('linkFd'), `times, xattrs, mode, then the name (${order.slice(0, 8).join(' ')})`);
});

t.test('hard links: later names are linked to the first copy once it is in', async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'x'), { recursive: true });
  fs.writeFileSync(path.join(src, 'one'), 'shared');
  fs.linkSync(path.join(src, 'one'), path.join(src, 'x', 'two'));
  fs.linkSync(path.join(src, 'one'), path.join(src, 'x', 'three'));
  const r = await copyTree([src], path.join(dir, 'dst'), { recursive: true, preserve: ALL, sys: linuxSys });
  t.same(r.errors, []);
  const inos = ['one', 'x/two', 'x/three'].map((p) => fs.statSync(path.join(dir, 'dst', p)).ino);
  t.equal(new Set(inos).size, 1, 'the three names are one inode in the copy');
  t.equal(r.counts.files, 1, 'one file copied');
  t.equal(r.counts.hardLinks, 2, 'two hard links made');

  const plain = await copyTree([src], path.join(dir, 'plain'), { recursive: true, sys: linuxSys });
  const plainInos = ['one', 'x/two', 'x/three'].map((p) => fs.statSync(path.join(dir, 'plain', p)).ino);
  t.equal(new Set(plainInos).size, 3, 'without preserve.links (cp -r) each name is its own file');
  t.equal(plain.counts.files, 3);
});

t.test('hard links: when the first copy fails, the other names are copied on their own', async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'a'), 'content');
  fs.linkSync(path.join(src, 'a'), path.join(src, 'b'));
  let failed = false;
  const sys: Sys = {
    ...linuxSys,
    open(p, flags, mode) {
      // The first regular-file open for reading of either name fails once.
      if (!failed && flags === (fs.constants.O_RDONLY | fs.constants.O_NOCTTY) && /\/(a|b)$/.test(String(p))) {
        failed = true;
        throw sysError('EIO', 'open');
      }
      return linuxSys.open(p, flags, mode);
    },
  };
  const r = await copyTree([src], path.join(dir, 'dst'), { recursive: true, preserve: ALL, sys });
  t.equal(r.errors.length, 1, 'one error');
  t.equal(r.errors[0]?.code, 'EIO', 'naming the errno');
  const copied = ['a', 'b'].filter((n) => fs.existsSync(path.join(dir, 'dst', n)));
  t.equal(copied.length, 1, `the other name was copied on its own (${copied.join(', ')})`);
  t.equal(fs.readFileSync(path.join(dir, 'dst', copied[0]!), 'utf8'), 'content');
});

t.test(`a directory of more than ${LIST_SLICE} names is read in slices, every name copied`, async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const count = LIST_SLICE * 2 + 17;
  for (let i = 0; i < count; i++) fs.writeFileSync(path.join(src, `f${i}`), String(i));
  const log: string[] = [];
  const r = await copyTree([src], path.join(dir, 'dst'), { recursive: true, sys: recording(log) });
  t.same(r.errors, []);
  t.equal(r.counts.files, count, 'every file counted');
  t.equal(fs.readdirSync(path.join(dir, 'dst')).length, count, 'every file copied');
  t.equal(fs.readFileSync(path.join(dir, 'dst', `f${count - 1}`), 'utf8'), String(count - 1));
  t.equal(log.filter((l) => l.startsWith('opendir ')).length, 1, 'the directory was opened once and read on');
});

t.test('a failing path gets one error naming it; the rest is copied', async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  for (const n of ['ok1', 'bad', 'd/ok2']) fs.writeFileSync(path.join(src, n), n);
  const sys: Sys = {
    ...linuxSys,
    open(p, flags, mode) {
      if (String(p).endsWith('/bad') && String(p).includes('/src/')) throw sysError('EACCES', 'open');
      return linuxSys.open(p, flags, mode);
    },
  };
  const r = await copyTree([src], path.join(dir, 'dst'), { recursive: true, sys });
  t.equal(r.ok, false);
  t.equal(r.errors.length, 1);
  t.equal(r.errors[0]!.path, path.join(src, 'bad'), 'the error names the path');
  t.equal(r.errors[0]!.code, 'EACCES');
  t.match(r.errors[0]!.message, /Permission denied \(EACCES\)/);
  t.ok(fs.existsSync(path.join(dir, 'dst', 'ok1')) && fs.existsSync(path.join(dir, 'dst', 'd', 'ok2')), 'the others were copied');
  t.notOk(fs.existsSync(path.join(dir, 'dst', 'bad')), 'nothing at the failed path');
  t.equal(r.counts.failed, 1);
});

t.test('an aborted copy stops, says so, and leaves no file without its bytes', async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(src, `f${i}`), Buffer.alloc(4096, i));
  const controller = new AbortController();
  let opened = 0;
  const sys: Sys = {
    ...linuxSys,
    open(p, flags, mode) {
      if (++opened === 40) controller.abort('test');
      return linuxSys.open(p, flags, mode);
    },
  };
  const r = await copyTree([src], path.join(dir, 'dst'), { recursive: true, sys, signal: controller.signal });
  t.equal(r.interrupted, true, 'the result says interrupted');
  t.equal(r.ok, false);
  const done = fs.readdirSync(path.join(dir, 'dst'));
  t.ok(done.length < 200, `it stopped early (${done.length} of 200)`);
  for (const n of done) t.equal(fs.statSync(path.join(dir, 'dst', n)).size, 4096, `${n} is complete`);
});

t.test('operands as cp reads them', async (t) => {
  const dir = scratch(t);
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'f'), 'f');
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  // into itself
  const into = await copyTree([path.join(dir, 'src')], path.join(dir, 'src', 'inner'), { recursive: true, sys: linuxSys });
  t.match(into.errors[0]?.message ?? '', /into itself/, 'a directory into itself is refused');
  t.notOk(fs.existsSync(path.join(dir, 'src', 'inner')), 'and nothing was made');
  // without recursive
  const noR = await copyTree([path.join(dir, 'src'), path.join(dir, 'file')], path.join(dir, 'src'), { sys: linuxSys });
  t.match(noR.errors[0]?.message ?? '', /-r not specified; omitting directory/, 'a directory without -r is omitted with cp\'s words');
  t.equal(fs.readFileSync(path.join(dir, 'src', 'file'), 'utf8'), 'x', 'the other operand was still copied');
  // several sources onto a non-directory
  await t.rejects(copyTree([path.join(dir, 'file'), path.join(dir, 'file')], path.join(dir, 'nowhere'), { sys: linuxSys }), /is not a directory/);
  t.notOk(fs.existsSync(path.join(dir, 'nowhere')));
});
