/**
 * The manual page and the README as documentation of the command: man renders the page
 * without warnings; it has the usual sections (ERRORS naming the errnos tscp reports, SEE ALSO
 * the system calls it uses); every long option `tscp --help` prints is documented in the
 * page and in the README; and the --json report's top-level keys are documented in both.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT } from './helpers/fs.js';

const MAN = path.join(ROOT, 'man', 'tscp.1');
const README = path.join(ROOT, 'README.md');

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'FORCE_COLOR' || k === 'NO_COLOR' || k.startsWith('TAP')) continue;
    env[k] = v;
  }
  return { ...env, LC_ALL: 'C.UTF-8', ...extra };
}

/** The page as plain ASCII text: no hyphenation, long lines, no overstriking. */
function renderMan(): string {
  const r = spawnSync('groff', ['-man', '-Tascii', '-P-cbou', '-rHY=0', '-rLL=200n', MAN], { encoding: 'utf8', env: cleanEnv() });
  if (r.status !== 0) throw new Error(`groff failed: ${r.stderr}`);
  return r.stdout;
}

/** Sections of the rendered page: heading (a line at column 0 in capitals) -> its text. */
function manSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | null = null;
  for (const line of text.split('\n')) {
    if (/^[A-Z][A-Z0-9 ]*[A-Z0-9]$/.test(line)) {
      current = line;
      sections.set(current, '');
    } else if (current !== null) {
      sections.set(current, `${sections.get(current)}${line}\n`);
    }
  }
  return sections;
}

/** README sections: each markdown heading with the text up to the next heading. */
function readmeSections(text: string): { heading: string; body: string }[] {
  const out: { heading: string; body: string }[] = [];
  let current = { heading: '', body: '' };
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^```/.test(line)) fenced = !fenced;
    if (!fenced && /^#{1,6} /.test(line)) {
      out.push(current);
      current = { heading: line.replace(/^#+ /, ''), body: '' };
    } else {
      current.body += `${line}\n`;
    }
  }
  out.push(current);
  return out;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `--name` as a whole option (not part of --name-more or --no-name), or as --[no-]name. */
function optionRe(long: string): RegExp {
  const bare = long.replace(/^--(no-)?/, '');
  return new RegExp(`(?<![\\w-])(${escapeRe(long)}|--\\[no-\\]${escapeRe(bare)})(?![\\w-])`);
}

/** The long options `tscp --help` lists. */
function helpLongOptions(): string[] {
  const r = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', env: cleanEnv() });
  if (r.status !== 0) throw new Error(`tscp --help exited ${r.status}: ${r.stderr}`);
  const options = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    // Option lines: "  -s, --src-offset <N>  text" or "  --copy  text"; the name column only.
    const m = /^\s+(-[^\s].*?)(?:\s{2,}|$)/.exec(line);
    if (!m) continue;
    for (const o of m[1]!.matchAll(/(?:^|[\s,])(--[a-z][a-z0-9-]*)/g)) options.add(o[1]!);
  }
  return [...options];
}

const manSource = fs.readFileSync(MAN, 'utf8');
const readme = fs.readFileSync(README, 'utf8');
const rendered = renderMan();
const sections = manSections(rendered);

t.test('man renders the page without warnings', async (t) => {
  const man = spawnSync('man', ['--warnings', '-l', MAN], {
    encoding: 'utf8',
    env: cleanEnv({ MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.equal(man.status, 0, 'man -l exits 0');
  t.equal(man.stderr, '', 'MANWIDTH=80 man --warnings -l man/tscp.1: no warnings');
  t.match(man.stdout, /NAME/, 'man rendered the page');
  const groff = spawnSync('groff', ['-ww', '-z', '-man', MAN], { encoding: 'utf8', env: cleanEnv() });
  t.equal(groff.status, 0, 'groff -ww -z -man exits 0');
  t.equal(groff.stderr, '', 'groff -ww: no warnings');
});

t.test('the page says which version it documents', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const th = /^\.TH\s+TSCP\s+1\s+"[^"]*"\s+"tscp ([^"]+)"/m.exec(manSource);
  t.ok(th, '.TH names tscp and its version');
  if (th) t.equal(th[1], pkg.version, 'the version in .TH is package.json\'s');
});

t.test('the usual sections', async (t) => {
  for (const name of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'ERRORS', 'ENVIRONMENT', 'EXAMPLES', 'SEE ALSO']) {
    t.ok(sections.has(name) && sections.get(name)!.trim() !== '', `${name} is there and not empty`);
  }
  const errors = sections.get('ERRORS') ?? '';
  for (const errno of ['EBADF', 'EINVAL', 'EIO', 'ENOSPC', 'EOPNOTSUPP', 'EXDEV']) {
    t.match(errors, new RegExp(`\\b${errno}\\b`), `ERRORS explains ${errno}`);
  }
  const seeAlso = sections.get('SEE ALSO') ?? '';
  for (const ref of ['cp(1)', 'copy_file_range(2)', 'ioctl_ficlone(2)', 'ioctl_fideduperange(2)']) {
    t.match(seeAlso, new RegExp(`(?<![\\w])${escapeRe(ref)}`), `SEE ALSO lists ${ref}`);
  }
  const env = sections.get('ENVIRONMENT') ?? '';
  for (const name of ['NO_COLOR', 'FORCE_COLOR']) t.match(env, new RegExp(`\\b${name}\\b`), `ENVIRONMENT explains ${name}`);
  const exit = sections.get('EXIT STATUS') ?? '';
  for (const code of ['0', '1', '2', '3']) t.match(exit, new RegExp(`^\\s+${code}\\b`, 'm'), `EXIT STATUS explains ${code}`);
});

t.test('every long option tscp --help prints is in the page and the README', async (t) => {
  const options = helpLongOptions();
  t.ok(options.length >= 10, `--help lists the long options (${options.join(' ')})`);
  const manOptions = sections.get('OPTIONS') ?? '';
  for (const o of options) {
    t.match(manOptions, optionRe(o), `man page OPTIONS documents ${o}`);
    t.match(readme, optionRe(o), `README documents ${o}`);
  }
});

t.test('the --json report is documented in the README and the page, every top-level key', async (t) => {
  const r = spawnSync(process.execPath, [BIN, '--json', '--no-such-option'], { encoding: 'utf8', env: cleanEnv() });
  let keys: string[] = [];
  try {
    keys = Object.keys(JSON.parse(r.stdout) as object);
  } catch {
    t.fail(`tscp --json printed no JSON report for a usage error: ${r.stdout}`);
  }
  t.ok(keys.length > 0, `the report's keys: ${keys.join(', ')}`);

  const readmeJson = readmeSections(readme)
    .filter((s) => /--json|\bJSON\b/.test(s.heading + s.body))
    .map((s) => s.body)
    .join('\n');
  t.ok(readmeJson !== '', 'the README has a section about --json');
  for (const key of keys) {
    t.match(readmeJson, new RegExp(`[\`"]${key}[\`"]|\\b${key}\\??:`), `README documents the JSON key "${key}"`);
  }

  const manJson = [...sections].filter(([name, body]) => /JSON/.test(name) || /--json|\bJSON\b/.test(body)).map(([, body]) => body).join('\n');
  t.ok(/--json/.test(sections.get('OPTIONS') ?? ''), 'the page documents --json');
  for (const key of keys) {
    t.match(manJson, new RegExp(`(?<![\\w.-])${key}(?![\\w-])`), `the page documents the JSON key "${key}"`);
  }
});

t.test('the tree --json report is documented too, every top-level key', async (t) => {
  // A tree run whose only operand is missing still prints the whole document.
  const r = spawnSync(process.execPath, [BIN, '-r', '--json', '/nonexistent-tscp-source', '/tmp'], { encoding: 'utf8', env: cleanEnv() });
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    t.fail(`tscp -r --json printed no JSON document: ${r.stdout}`);
  }
  t.equal(doc.kind, 'tree', 'the document says it is a tree report');
  t.equal(r.status, 1, 'a missing operand is a failed path: exit 1');
  const keys = Object.keys(doc);
  t.ok(keys.length >= 10, `the tree report's keys: ${keys.join(', ')}`);
  const treeSection = readmeSections(readme).find((s) => /tree/i.test(s.heading) && /--json/.test(s.heading));
  t.ok(treeSection, 'the README has a section on the tree --json report');
  const manJson = sections.get('JSON REPORT') ?? '';
  for (const key of keys) {
    t.match(treeSection?.body ?? '', new RegExp(`\`${key}\``), `README documents the tree JSON key "${key}"`);
    t.match(manJson, new RegExp(`(?<![\\w.-])${key}(?![\\w-])`), `the page documents the tree JSON key "${key}"`);
  }
});
