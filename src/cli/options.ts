/**
 * The command line's grammar: commander's program, the rewrites GNU getopt users expect
 * (bare `--reflink`, `--preserve`, `--update`), and the checks across options, turning
 * what was typed into a plan: one file through copy(), or a tree through copyTree().
 */
import type { Command } from 'commander';
import type { CopyMode, CopyOptions } from '../copy/index.js';
import type { Dereference, Preserve, TreeOptions, Update } from '../tree/types.js';
import { MAX_FILE_OFFSET, SizeError, parseSize } from './size.js';

type Commander = typeof import('commander');

/** A usage error found after commander's own parsing (conflicting options, ranges). */
export class UsageError extends Error {}

export interface ParsedOptions {
  reflink?: string | true;
  copy?: boolean;
  dedupe?: boolean;
  srcOffset?: bigint;
  dstOffset?: bigint;
  length?: bigint;
  verbose?: boolean;
  quiet?: boolean;
  json?: boolean;
  inplace?: boolean;
  fsync?: boolean;
  /** --progress / --no-progress; undefined means "when stderr is a terminal". */
  progress?: boolean;
  recursive?: boolean;
  R?: boolean;
  archive?: boolean;
  p?: boolean;
  /**
   * commander names a `--no-X` option by X: `--no-preserve=LIST` arrives here as the list,
   * `-n, --no-clobber` as clobber: false, and `-T, --no-target-directory` as
   * targetDirectory: false (where `-t DIR` puts the directory).
   */
  preserve?: string[] | boolean;
  clobber?: boolean;
  u?: boolean;
  update?: string;
  oneFileSystem?: boolean;
  targetDirectory?: string | false;
  jobs?: number;
}

/** What cp users mean by the letters tscp gives to its range options, and what to type instead. */
const CP_LETTERS: Record<string, string> = {
  s: "in tscp -s is --src-offset (a byte range); cp's -s (make symbolic links) has no tscp equivalent: use ln -s",
  d: "in tscp -d is --dst-offset (a byte range); for cp's -d use -P --preserve=links",
  l: "in tscp -l is --length (a byte range); cp's -l (make hard links) has no tscp equivalent: use ln",
};

function sizeOption(commander: Commander, letter: string) {
  return (text: string): bigint => {
    try {
      return parseSize(text);
    } catch (err) {
      if (!(err instanceof SizeError)) throw err;
      // A word where a size belongs is most likely a cp habit: say what the letter is here.
      const hint = /^[0-9]/.test(text.trim()) || /^\s*-/.test(text) ? '' : `; ${CP_LETTERS[letter]}`;
      throw new commander.InvalidArgumentError(`${err.message}${hint}`);
    }
  };
}

function jobsOption(commander: Commander) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^[0-9]+$/.test(text) || n < 1 || n > 256) throw new commander.InvalidArgumentError('must be a whole number from 1 to 256');
    return n;
  };
}

const PRESERVE_WORDS = ['mode', 'ownership', 'timestamps', 'links', 'xattr', 'all', 'context'];

function preserveList(commander: Commander) {
  return (text: string, previous: string[] = []): string[] => {
    const words = text.split(',').map((w) => w.trim());
    for (const w of words) {
      if (!PRESERVE_WORDS.includes(w)) {
        throw new commander.InvalidArgumentError(`'${w}' is not one of ${PRESERVE_WORDS.filter((x) => x !== 'context').join(', ')}`);
      }
    }
    return [...previous, ...words];
  };
}

export const HELP_FOOTER = `
Sizes: bytes, 0x hex, K M G T or KiB MiB GiB TiB (powers of 1024), KB MB GB TB (powers of 1000).
An existing DEST file keeps what cp keeps of it: its mode, owner, inode flags (chattr),
xattrs and ACL, and its hard links. It is replaced atomically (a temporary file given all
that, then exchanged with it and the old file removed), or written in place as cp does where
a new file cannot keep it all (DEST has other hard links, a flag or xattr cannot be carried
over, or its owner cannot be given); --inplace always writes into it.
Exit status: 0 ok, 1 a copy failed, 2 usage error, 3 --dedupe found bytes that differ (it still
shares every equal block; -v and --json list the differing byte ranges), 128+N signal N.

Examples:
  tscp big.img /mnt/backup/              reflink if possible, else the fastest copy
  tscp --copy disk.img disk-copy.img     an independent copy, sharing no extents
  tscp -s 1M -l 4K data.bin head.bin     copy 4 KiB from offset 1 MiB to offset 0
  tscp -a src/ /backup/                  copy a tree as cp -a, in parallel
  tscp -r a b c -t dir/                  copy three files or trees into dir/
`;

export function buildProgram(commander: Commander, version: string, output: { out(s: string): void; err(s: string): void }): Command {
  const { Command, Option } = commander;
  return new Command('tscp')
    .usage('[options] SOURCE DEST\n       tscp [options] SOURCE... DIRECTORY\n       tscp [options] -t DIRECTORY SOURCE...')
    .description('Copy files, byte ranges and trees by reflink, in-kernel copy or read/write, whichever is fastest.')
    .argument('[OPERANDS...]', 'SOURCE... then DEST (a file, or a directory to copy into)')
    .optionsGroup('Mode:')
    .addOption(
      new Option('--reflink[=WHEN]', 'share extents: auto (default) falls back to copying, always fails instead, never does not share; bare --reflink is always'),
    )
    .addOption(new Option('--reflink-value <WHEN>').choices(['auto', 'always', 'never']).hideHelp())
    .option('--copy', 'the same as --reflink=never')
    .option('--dedupe', "share extents with DEST wherever its bytes already equal SOURCE's, block by block; exit 3 if any byte differs (for trees: file by file, by relative path)")
    .option('--inplace', 'write into DEST itself (keeps its inode and hard links) instead of a temporary file renamed over it; a failed copy then leaves DEST partly written')
    .option('--fsync', 'flush DEST to disk before reporting success')
    .optionsGroup('Trees and several files (as in GNU cp):')
    .option('-r, --recursive', 'copy directories and their contents (also -R)')
    .addOption(new Option('-R').hideHelp())
    .option('-a, --archive', 'the same as -R -P --preserve=all')
    .option('-p', 'the same as --preserve=mode,ownership,timestamps')
    .option('--preserve[=LIST]', 'keep these of SOURCE: mode (with the ACL), ownership, timestamps, links, xattr, all (bare: mode,ownership,timestamps)')
    .addOption(new Option('--preserve-value <LIST>').argParser(preserveList(commander)).hideHelp())
    .addOption(new Option('--no-preserve <LIST>', "don't keep these").argParser(preserveList(commander)))
    .option('-P, --no-dereference', 'never follow symlinks in SOURCE (the default with -r)')
    .option('-L, --dereference', 'always follow symlinks in SOURCE')
    .option('-H', 'follow symlinks given on the command line only')
    .option('-n, --no-clobber', 'never replace an existing file, even one that appears during the copy')
    .option('-u', 'the same as --update=older')
    .option('--update[=WHEN]', 'replace existing files: all (default), older (bare --update: only when older than SOURCE), none')
    .addOption(new Option('--update-value <WHEN>').choices(['all', 'older', 'none']).hideHelp())
    .option('-x, --one-file-system', 'stay on the filesystem of each SOURCE')
    .option('-t, --target-directory <DIRECTORY>', 'copy every SOURCE into DIRECTORY')
    .option('-T, --no-target-directory', 'treat DEST as the name to write, never a directory to copy into')
    .option('-j, --jobs <N>', 'parallel workers for trees (default: one per CPU, 2 to 8)', jobsOption(commander))
    .optionsGroup('Range of one file (as xfs_io copy_range; not cp\'s -s/-d/-l):')
    .option('-s, --src-offset <N>', 'first byte of SOURCE to copy (default 0)', sizeOption(commander, 's'))
    .option('-d, --dst-offset <N>', 'where that byte lands in DEST (default 0)', sizeOption(commander, 'd'))
    .option('-l, --length <N>', 'how many bytes (default: to the end of SOURCE)', sizeOption(commander, 'l'))
    .optionsGroup('Output:')
    .option('-v, --verbose', 'say what was done, one line per file: bytes, method(s), sharing, time')
    .option('-q, --quiet', 'print nothing but errors (no progress bar)')
    .option('--json', 'print one JSON report of the run on stdout, nothing else there')
    .option('--progress', 'show progress even when stderr is not a terminal')
    .option('--no-progress', 'never show progress')
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .addHelpText('after', HELP_FOOTER)
    .exitOverride()
    .configureOutput({
      writeOut: output.out,
      writeErr: output.err,
      outputError: (s, write) => write(`tscp: ${s.replace(/^error: /, '')}`),
    })
    .showHelpAfterError("Try 'tscp --help' for more information.");
}

/**
 * GNU getopt takes an optional value only after '=': a bare `--reflink` is `always`,
 * a bare `--preserve` is mode,ownership,timestamps, a bare `--update` is `older`. The
 * `=VALUE` forms go to hidden options that commander validates.
 */
export function normalizeArgs(args: string[]): string[] {
  const end = args.indexOf('--');
  return args.map((a, i) => {
    if (end >= 0 && i > end) return a;
    for (const [name, bare] of [
      ['--reflink', 'always'],
      ['--preserve', 'mode,ownership,timestamps'],
      ['--update', 'older'],
    ] as const) {
      if (a === name) return `${name}-value=${bare}`;
      if (a.startsWith(`${name}=`)) return `${name}-value=${a.slice(name.length + 1)}`;
    }
    return a;
  });
}

/**
 * `tscp --reflink always a b`: GNU getopt (and tscp) take an optional value only after
 * '=', so the bare `--reflink` means always and `always` becomes a SOURCE, one operand too
 * many. When the word after a bare `--reflink` is one of its values and no file has that
 * name, that was meant as the value: say how to write it instead of failing on the operands.
 * `rawArgs` are the arguments as typed (before normalizeArgs).
 */
export function checkBareReflink(rawArgs: string[], operands: string[], exists: (name: string) => boolean): void {
  const end = rawArgs.indexOf('--');
  const at = rawArgs.indexOf('--reflink');
  if (at < 0 || (end >= 0 && at > end)) return;
  const word = rawArgs[at + 1];
  if (word === undefined || !['auto', 'always', 'never'].includes(word) || !operands.includes(word) || exists(word)) return;
  throw new UsageError(`use --reflink=${word}: a WHEN goes after '=' (a bare --reflink means always, and '${word}' was taken for a SOURCE)`);
}

/** Whether a short or long flag appears among the options (before `--`), also inside -abc clusters. */
function hasFlag(args: string[], short: string, long: string): boolean {
  const end = args.indexOf('--');
  for (const a of end < 0 ? args : args.slice(0, end)) {
    if (a === long || a.startsWith(`${long}=`)) return true;
    if (/^-[^-]/.test(a)) {
      for (const ch of a.slice(1)) {
        if (ch === short) return true;
        if ('sdltj'.includes(ch)) break;
      }
    }
  }
  return false;
}

/** The last of -P, -L, -H on the command line wins, as in cp (commander keeps no order). */
function lastDereference(args: string[]): Dereference | undefined {
  let last: Dereference | undefined;
  const end = args.indexOf('--');
  for (const a of end < 0 ? args : args.slice(0, end)) {
    if (a === '--no-dereference') last = 'never';
    else if (a === '--dereference') last = 'always';
    else if (/^-[^-]/.test(a)) {
      for (const ch of a.slice(1)) {
        if (ch === 'P' || ch === 'a') last = 'never';
        else if (ch === 'L') last = 'always';
        else if (ch === 'H') last = 'command-line';
        // The rest of the word is this option's value.
        else if ('sdltj'.includes(ch)) break;
      }
    }
  }
  return last;
}

function applyWords(into: Preserve, words: string[], value: boolean): void {
  for (const w of words) {
    if (w === 'all') for (const k of Object.keys(into) as (keyof Preserve)[]) into[k] = value;
    else if (w !== 'context') into[w as keyof Preserve] = value;
  }
}

export type Plan =
  | { kind: 'single'; copy: CopyOptions & { mode: CopyMode }; source: string; dest: string }
  | { kind: 'tree'; tree: TreeOptions & { mode: CopyMode }; sources: string[]; dest: string };

/** The checks across options, in one place, and the plan they give. */
export function planFrom(o: ParsedOptions & { reflinkValue?: string; preserveValue?: string[]; updateValue?: string }, operands: string[], args: string[]): Plan {
  const reflink = o.reflinkValue;
  const targetDirectory = typeof o.targetDirectory === 'string' ? o.targetDirectory : undefined;
  const noTargetDirectory = hasFlag(args, 'T', '--no-target-directory');
  const noClobber = o.clobber === false;
  const noPreserve = Array.isArray(o.preserve) ? o.preserve : undefined;
  if (o.copy && reflink && reflink !== 'never') throw new UsageError(`--copy conflicts with --reflink=${reflink}`);
  if (o.dedupe && (o.copy || reflink)) throw new UsageError(`--dedupe cannot be combined with ${o.copy ? '--copy' : '--reflink'}`);
  if (o.verbose && o.quiet) throw new UsageError('--verbose and --quiet cannot be used together');
  if (o.inplace && o.dedupe) throw new UsageError('--inplace cannot be combined with --dedupe (dedupe never writes)');
  if (noTargetDirectory && hasFlag(args, 't', '--target-directory')) {
    throw new UsageError('cannot combine --target-directory (-t) and --no-target-directory (-T)');
  }
  for (const [name, off] of [['--src-offset', o.srcOffset], ['--dst-offset', o.dstOffset]] as const) {
    if (off !== undefined && o.length !== undefined && off + o.length > MAX_FILE_OFFSET) {
      throw new UsageError(`${name} + --length is past the largest file offset (2^63-1)`);
    }
  }
  const mode: CopyMode = o.dedupe ? 'dedupe' : o.copy ? 'never' : ((reflink as CopyMode | undefined) ?? 'auto');

  // Operands: -t DIR takes them all as sources; otherwise the last is DEST.
  let sources: string[];
  let dest: string;
  if (targetDirectory !== undefined) {
    if (operands.length === 0) throw new UsageError('missing file operand');
    sources = operands;
    dest = targetDirectory;
  } else {
    if (operands.length === 0) throw new UsageError('missing file operand');
    if (operands.length === 1) throw new UsageError(`missing destination file operand after '${operands[0]}'`);
    sources = operands.slice(0, -1);
    dest = operands[operands.length - 1]!;
    if (noTargetDirectory && sources.length > 1) throw new UsageError(`extra operand '${operands[2]}' (-T takes one SOURCE and one DEST)`);
  }

  const isRange = o.srcOffset !== undefined || o.dstOffset !== undefined || o.length !== undefined;
  const recursive = Boolean(o.recursive || o.R || o.archive);
  const preserve: Preserve = { mode: false, ownership: false, timestamps: false, links: false, xattr: false };
  const required: Preserve = { ...preserve };
  if (o.archive) applyWords(preserve, ['all'], true);
  if (o.p) applyWords(preserve, ['mode', 'ownership', 'timestamps'], true);
  if (o.preserveValue) {
    applyWords(preserve, o.preserveValue, true);
    // Named explicitly: failing to keep them is an error, as in cp.
    applyWords(required, o.preserveValue, true);
  }
  if (noPreserve) {
    applyWords(preserve, noPreserve, false);
    applyWords(required, noPreserve, false);
  }
  const update: Update | undefined = o.updateValue as Update | undefined ?? (o.u ? 'older' : undefined);
  const dereference = lastDereference(args);
  const wantsTree =
    recursive ||
    sources.length > 1 ||
    targetDirectory !== undefined ||
    Object.values(preserve).some(Boolean) ||
    update !== undefined ||
    o.oneFileSystem ||
    o.jobs !== undefined ||
    dereference !== undefined;

  if (isRange && wantsTree) {
    throw new UsageError(
      '-s/-d/-l select a byte range of one file and cannot be combined with several sources, -t, -r/-a or --preserve ' +
        "(cp's -s, -d and -l are: ln -s; -P --preserve=links; ln)",
    );
  }
  if (!wantsTree) {
    return {
      kind: 'single',
      source: sources[0]!,
      dest,
      copy: {
        mode,
        srcOffset: o.srcOffset,
        dstOffset: o.dstOffset,
        length: o.length,
        inplace: o.inplace,
        fsync: o.fsync,
        noClobber,
        noTargetDirectory,
      },
    };
  }
  return {
    kind: 'tree',
    sources,
    dest,
    tree: {
      mode,
      recursive,
      dereference,
      preserve,
      requirePreserve: required,
      noClobber,
      update,
      oneFileSystem: o.oneFileSystem,
      targetDirectory: targetDirectory !== undefined,
      // Dedupe pairs SOURCE's files with DEST's by relative path: DEST is the other tree itself.
      noTargetDirectory: noTargetDirectory || (mode === 'dedupe' && sources.length === 1 && targetDirectory === undefined),
      inplace: o.inplace,
      fsync: o.fsync,
      jobs: o.jobs,
      measureSharing: Boolean(o.verbose),
    },
  };
}
