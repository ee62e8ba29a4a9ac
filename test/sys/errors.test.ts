import t from 'tap';
import fs from 'node:fs';
import { SysError, errnoMessage, errnoName, errnoNumber, fromNodeError, isErrno } from '../../src/sys/errors.js';

t.test('errnoName', async (t) => {
  t.equal(errnoName(18), 'EXDEV');
  t.equal(errnoName(95), 'EOPNOTSUPP', 'not ENOTSUP, which shares the number');
  t.equal(errnoName(2), 'ENOENT');
  t.equal(errnoName(4), 'EINTR');
  t.equal(errnoName(5), 'EIO');
  t.equal(errnoName(11), 'EAGAIN', 'not EWOULDBLOCK');
  t.equal(errnoName(22), 'EINVAL');
  t.equal(errnoName(25), 'ENOTTY');
  t.equal(errnoName(28), 'ENOSPC');
  t.equal(errnoName(38), 'ENOSYS');
  t.equal(errnoName(99999), 'E99999', 'unknown number');
});

t.test('errnoNumber and errnoMessage', async (t) => {
  t.equal(errnoNumber('EXDEV'), 18);
  t.equal(errnoNumber('EOPNOTSUPP'), 95);
  t.equal(errnoNumber('ENOTSUP'), 95);
  t.equal(errnoNumber('ENOSUCHTHING'), undefined);
  t.equal(errnoMessage('EXDEV'), 'Invalid cross-device link');
  t.equal(errnoMessage('EOPNOTSUPP'), 'Operation not supported');
  t.equal(errnoMessage('E12345'), 'Unknown error E12345');
  for (const n of [1, 2, 4, 5, 9, 13, 17, 18, 21, 22, 25, 26, 27, 28, 38, 95]) {
    t.equal(errnoNumber(errnoName(n)), n, `name of ${n} maps back`);
    t.notMatch(errnoMessage(errnoName(n)), /^Unknown error/, `${errnoName(n)} has a strerror text`);
  }
});

t.test('SysError', async (t) => {
  const e = new SysError(18, 'copy_file_range');
  t.type(e, Error);
  t.equal(e.name, 'SysError');
  t.equal(e.code, 'EXDEV');
  t.equal(e.errno, 18);
  t.equal(e.syscall, 'copy_file_range');
  t.equal(e.path, undefined);
  t.equal(e.message, 'copy_file_range: Invalid cross-device link (EXDEV)');

  const p = new SysError(95, 'ioctl(FICLONE)', '/a/b');
  t.equal(p.code, 'EOPNOTSUPP');
  t.equal(p.path, '/a/b');
  t.equal(p.message, "ioctl(FICLONE) '/a/b': Operation not supported (EOPNOTSUPP)");

  const unknown = new SysError(4242, 'x');
  t.equal(unknown.code, 'E4242');
  t.equal(unknown.message, 'x: Unknown error E4242 (E4242)');
});

t.test('isErrno', async (t) => {
  const e = new SysError(4, 'read');
  t.equal(isErrno(e, 'EINTR'), true);
  t.equal(isErrno(e, 'EIO', 'EINTR'), true);
  t.equal(isErrno(e, 'EIO'), false);
  t.equal(isErrno(Object.assign(new Error('x'), { code: 'EINTR' }), 'EINTR'), false, 'only SysErrors');
  t.equal(isErrno(undefined, 'EINTR'), false);
});

t.test('fromNodeError', async (t) => {
  let nodeErr: unknown;
  try {
    fs.openSync('/nonexistent/tscp-errors-test', 'r');
  } catch (err) {
    nodeErr = err;
  }
  t.ok(nodeErr, 'node threw');
  const e = fromNodeError(nodeErr, 'open', '/nonexistent/tscp-errors-test');
  t.type(e, SysError);
  t.equal(e.code, 'ENOENT');
  t.equal(e.errno, 2, 'positive errno, though Node reports -2');
  t.equal(e.syscall, 'open');
  t.equal(e.path, '/nonexistent/tscp-errors-test');
  t.equal(e.message, "open '/nonexistent/tscp-errors-test': No such file or directory (ENOENT)");

  let ebadf: unknown;
  try {
    fs.fstatSync(1_000_000);
  } catch (err) {
    ebadf = err;
  }
  t.equal(fromNodeError(ebadf, 'fstat').code, 'EBADF');

  const plain = new TypeError('not a system error');
  t.throws(() => fromNodeError(plain, 'open'), plain, 'anything else is re-thrown as is');
  t.throws(() => fromNodeError('a string', 'open'));
});
