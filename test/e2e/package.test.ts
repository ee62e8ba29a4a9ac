/**
 * Packaging, end to end: package.json's bin, man, files and exports; `npm pack` ships only
 * the whitelist (no tests); the tarball installs globally (`npm install -g --prefix`) with a
 * working `tscp` from any directory and its man page in share/man/man1; a TypeScript project
 * can `import { copy } from 'tscp'` with types (strict, the shipped .d.ts type-checked); `npx
 * --package TARBALL tscp` works. And start-up stays lean: --version and --help load neither
 * koffi (native code) nor chalk nor cli-progress, and a plain copy with stderr not a terminal
 * loads neither chalk nor cli-progress.
 *
 * npm installs take the dependencies from the npm cache or the registry, so these tests get
 * generous timeouts.
 */
import t, { type Test } from 'tap';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, ROOT, scratchDir, sha256, writeRandom } from '../helpers/fs.js';

const NPM_TIMEOUT = 300_000;
const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc');

interface Pkg {
  name: string;
  version: string;
  bin?: Record<string, string> | string;
  man?: string[] | string;
  files?: string[];
  exports?: Record<string, unknown>;
  types?: string;
  scripts?: Record<string, string>;
}
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Pkg;

/** The environment without tap's colour settings and npm's per-run variables. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'FORCE_COLOR' || k === 'NO_COLOR' || k.startsWith('TAP') || /^npm_/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run cmd without NODE_OPTIONS: tap's process tracker adds its loader there for every child
 * it spawns, and the start-up checks must see only what tscp itself loads.
 */
function sh(cmd: string, args: string[], options: SpawnSyncOptions = {}): Run {
  const r = spawnSync('env', ['-u', 'NODE_OPTIONS', cmd, ...args], { encoding: 'utf8', timeout: NPM_TIMEOUT, ...options, env: options.env ?? cleanEnv() });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? (r.error ? String(r.error) : '')) };
}

function npm(args: string[], cwd: string): Run {
  return sh('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd });
}

t.test('package.json: bin, man, files whitelist, exports with types', async (t) => {
  const bin = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});
  t.ok(bin.tscp, 'bin.tscp is set');
  if (bin.tscp) {
    const file = path.join(ROOT, bin.tscp);
    t.ok(fs.existsSync(file), `${bin.tscp} exists`);
    t.match(fs.readFileSync(file, 'utf8'), /^#!\/usr\/bin\/env node\n/, `${bin.tscp} starts with a node shebang`);
  }
  t.same(pkg.man, ['./man/tscp.1'], 'man: ["./man/tscp.1"]');
  t.same([...(pkg.files ?? [])].sort(), ['LICENSE', 'README.md', 'bin', 'dist', 'man'].sort(), 'files: bin, dist, man, README.md, LICENSE');
  t.notOk((pkg.files ?? []).some((f) => /test/.test(f)), 'files lists no tests');
  // A user installing the built package must not run tscp's build (it needs the dev
  // dependency TypeScript, and npm 11 warns about every install script): build on prepack.
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
    t.notOk(pkg.scripts?.[hook], `no ${hook} script (it would run when the package is installed)`);
  }
  // Directly, or through `npm run build`, which compiles with tsc and bundles with esbuild.
  const build = pkg.scripts?.build ?? '';
  t.match(build, /\btsc\b/, 'build compiles dist/ with tsc');
  // The bundle script may be split into bundle:* steps.
  const bundling = Object.entries(pkg.scripts ?? {})
    .filter(([name]) => name === 'bundle' || name.startsWith('bundle:'))
    .map(([, script]) => script)
    .join(' ');
  t.match(`${build} ${bundling}`, /\besbuild\b.*dist\/bin\/entry\.cjs/, 'build bundles the command (dist/bin/entry.cjs, what bin/tscp.js loads)');
  const builds = (script: string | undefined) => /\btsc\b/.test(script ?? '') || /\bnpm run build\b/.test(script ?? '');
  t.ok(builds(pkg.scripts?.prepack), `prepack builds dist/ (npm pack): ${pkg.scripts?.prepack}`);
  t.ok(builds(pkg.scripts?.pretest), `pretest builds dist/ (npm test, also after npm ci): ${pkg.scripts?.pretest}`);
  const dot = (pkg.exports?.['.'] ?? {}) as Record<string, string>;
  t.ok(dot.types, `exports["."].types is set (${dot.types})`);
  t.ok(dot.import ?? dot.default, 'exports["."] has an import (or default) target');
  const keys = Object.keys(dot);
  t.equal(keys[0], 'types', 'exports["."].types comes first (TypeScript reads the conditions in order)');
  for (const f of [dot.types, dot.import ?? dot.default, pkg.types].filter(Boolean) as string[]) {
    t.ok(fs.existsSync(path.join(ROOT, f)), `${f} exists (built)`);
  }
});

t.test('the packed tarball: installs and works globally, as a library with types, and with npx', { timeout: 900_000 }, async (t) => {
  const scratch = scratchDir(t);
  // --ignore-scripts: pack the dist/ this test run built (npm test builds first) instead of
  // rebuilding dist/ under the feet of other tests running at the same time.
  const packed = npm(['pack', '--ignore-scripts', '--pack-destination', scratch, '--json'], ROOT);
  t.equal(packed.status, 0, `npm pack exits 0 ${packed.stderr}`);
  let tarball = '';
  try {
    const info = JSON.parse(packed.stdout) as { filename: string }[];
    tarball = path.join(scratch, path.basename(info[0]!.filename));
  } catch {
    t.fail(`npm pack --json printed no JSON: ${packed.stdout}`);
    return;
  }
  t.ok(fs.existsSync(tarball), `the tarball is there: ${path.basename(tarball)}`);

  await t.test('the tarball holds the whitelist only, no tests', async (t) => {
    const list = sh('tar', ['-tzf', tarball]);
    t.equal(list.status, 0, 'tar -tzf exits 0');
    const entries = list.stdout.split('\n').filter(Boolean);
    const allowed = /^package\/(package\.json|README\.md|LICENSE|bin\/.+|dist\/.+|man\/.+)$/;
    t.same(entries.filter((e) => !allowed.test(e)), [], 'nothing outside package.json, README.md, LICENSE, bin/, dist/, man/');
    t.same(entries.filter((e) => /(^|\/)(test|tests|__tests__)\/|\.test\.[cm]?[jt]s$/.test(e)), [], 'no test files');
    t.same(entries.filter((e) => /\.ts$/.test(e) && !/\.d\.ts$/.test(e)), [], 'no TypeScript sources');
    for (const need of ['package/package.json', 'package/README.md', 'package/LICENSE', 'package/bin/tscp.js', 'package/man/tscp.1', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/cli/main.js', 'package/bin/package.json', 'package/dist/bin/entry.cjs', 'package/dist/bin/main.js']) {
      t.ok(entries.includes(need), `${need} is in the tarball`);
    }
  });

  const src = path.join(scratch, 'src.bin');
  writeRandom(src, 3 * 1024 * 1024 + 17);

  await t.test('npm install -g --prefix DIR: tscp works from any directory, man page installed', { timeout: NPM_TIMEOUT + 60_000 }, async (t) => {
    const prefix = path.join(scratch, 'prefix');
    const install = npm(['install', '-g', '--prefix', prefix, tarball], scratch);
    t.equal(install.status, 0, `npm install -g exits 0 ${install.stderr}`);
    const exe = path.join(prefix, 'bin', 'tscp');
    t.ok(fs.existsSync(exe), 'DIR/bin/tscp exists');
    const dest = path.join(scratch, 'global-copy.bin');
    const r = sh(exe, [src, dest], { cwd: '/' });
    t.equal(r.status, 0, `DIR/bin/tscp SRC DST exits 0 from cwd=/ ${r.stderr}`);
    t.equal(r.stderr, '', 'nothing on stderr');
    t.ok(fs.existsSync(dest) && sha256(dest) === sha256(src), 'DEST is an exact copy');
    const v = sh(exe, ['--version'], { cwd: '/' });
    t.equal(v.stdout.trim(), pkg.version, `--version prints ${pkg.version}`);
    const manPage = path.join(prefix, 'share', 'man', 'man1', 'tscp.1');
    t.ok(fs.existsSync(manPage), 'DIR/share/man/man1/tscp.1 exists');
    const man = sh('man', ['-M', path.join(prefix, 'share', 'man'), 'tscp'], { env: cleanEnv({ MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' }) });
    t.match(man.stdout, /tscp\s+-\s+copy\s+files/, 'man -M DIR/share/man tscp finds and renders the page');
  });

  await t.test("a TypeScript project: import { copy } from 'tscp' with types", { timeout: NPM_TIMEOUT + 120_000 }, async (t) => {
    const project = path.join(scratch, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
    const install = npm(['install', tarball], project);
    t.equal(install.status, 0, `npm install TARBALL exits 0 ${install.stderr}`);
    fs.writeFileSync(
      path.join(project, 'index.ts'),
      `import { copy, CopyError, type CopyResult, type CopyOptions, type CopyMode } from 'tscp';

const [src, dst] = process.argv.slice(2) as [string, string];
const mode: CopyMode = 'auto';
const options: CopyOptions = { mode };
const result: CopyResult = await copy(src, dst, options);
// Byte counts are numbers, or bigints past 2^53-1: Number() for arithmetic that may round.
const b = result.bytes;
const moved: number = [b.reflinked, b.copyFileRange, b.sendfile, b.readWrite, b.holes].reduce<number>((sum, n) => sum + Number(n), 0);
const errnos: string[] = result.fallbacks.map((f) => f.errno);
// @ts-expect-error the modes are a union of literals, not any string
const wrong: CopyOptions = { mode: 'sideways' };
void wrong;
let code: string | undefined;
try {
  await copy(src + '.missing', dst + '.never', {});
} catch (err) {
  if (err instanceof CopyError) code = err.code;
}
console.log(JSON.stringify({ totalBytes: result.totalBytes, moved, dest: result.dest, errnos, code }));
`,
    );
    const tsc = sh(
      TSC,
      ['--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--strict', '--noEmit', 'false', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'index.ts'],
      { cwd: project },
    );
    t.equal(tsc.status, 0, `tsc --strict compiles it against the shipped types (no skipLibCheck):\n${tsc.stdout}${tsc.stderr}`);
    if (tsc.status !== 0) return;
    const dest = path.join(scratch, 'lib-copy.bin');
    const r = sh(process.execPath, ['index.js', src, dest], { cwd: project });
    t.equal(r.status, 0, `node index.js exits 0 ${r.stderr}`);
    let out: { totalBytes?: number; moved?: number; dest?: string; code?: string } = {};
    try {
      out = JSON.parse(r.stdout) as typeof out;
    } catch {
      t.fail(`index.js printed: ${r.stdout}`);
    }
    t.equal(out.totalBytes, fs.statSync(src).size, 'copy() resolved with the CopyResult');
    t.equal(out.moved, out.totalBytes, 'bytes by method add up');
    t.equal(out.dest, dest, 'result.dest');
    t.equal(out.code, 'ENOENT', 'a failure rejects with a CopyError carrying the errno');
    t.ok(fs.existsSync(dest) && sha256(dest) === sha256(src), 'the library made an exact copy');
  });

  await t.test('npx --package TARBALL tscp SRC DST', { timeout: NPM_TIMEOUT + 60_000 }, async (t) => {
    const dest = path.join(scratch, 'npx-copy.bin');
    const r = sh('npx', ['--yes', '--package', tarball, 'tscp', src, dest], { cwd: scratch });
    t.equal(r.status, 0, `npx exits 0 ${r.stderr}`);
    t.ok(fs.existsSync(dest) && sha256(dest) === sha256(src), 'DEST is an exact copy');
  });
});

/** The shell commands of each ```sh block in the README section `heading`, comments removed. */
function readmeBlocks(heading: string): string[][] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.search(new RegExp(`^## ${heading}\\s*$`, 'm'));
  if (start < 0) return [];
  const rest = readme.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
}

/**
 * Run README commands one by one as a user types them in a shell that starts in `cwd`
 * (a `cd` in one carries over to the next); returns each command's output and the last cwd.
 */
function typeCommands(t: Test, commands: string[], cwd: string, env: NodeJS.ProcessEnv, cwdFile: string): { ok: boolean; cwd: string; outputs: Map<string, string> } {
  const outputs = new Map<string, string>();
  for (const command of commands) {
    const r = spawnSync('bash', ['-c', `set -e\n${command}\npwd > ${JSON.stringify(cwdFile)}`], { cwd, env, encoding: 'utf8', timeout: NPM_TIMEOUT });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    outputs.set(command, output);
    t.equal(r.status, 0, `\`${command}\` exits 0${r.status === 0 ? '' : `:\n${output}`}`);
    if (r.status !== 0) return { ok: false, cwd, outputs };
    cwd = fs.readFileSync(cwdFile, 'utf8').trim();
  }
  return { ok: true, cwd, outputs };
}

t.test("the README's set-up, typed in a fresh clone: a tscp on PATH, and the tarball route", { timeout: 1_200_000 }, async (t) => {
  const [setup = [], tarballRoute = []] = readmeBlocks('Set-up');
  t.ok(setup.length > 0, `the README has a Set-up section with its commands: ${setup.join(' ; ')}`);
  t.match(setup[0] ?? '', /^git clone \S+ tscp && cd tscp$/, 'it starts with git clone ... && cd tscp');
  t.ok(setup.some((c) => /^npm install -g \.$|^npm link$/.test(c)), 'a command puts tscp on PATH (npm install -g . or npm link)');
  t.equal(setup.at(-1), 'npm test', 'and it ends with npm test');
  t.ok(setup.includes('tscp --version'), 'tscp --version is among them');
  const tarball = `${pkg.name}-${pkg.version}.tgz`;
  t.same(tarballRoute, ['npm pack', `npm install -g ./${tarball}`], `then a block: npm pack, npm install -g ./${tarball} (the name of this version's tarball)`);
  if (setup.length === 0 || tarballRoute.length === 0) return;

  const scratch = scratchDir(t);
  const prefix = path.join(scratch, 'global');
  // A global prefix of the test's own (the machine's is never touched), npm's cache used
  // whenever it has a package (no network then), and no audit or funding requests.
  const env = (globalPrefix: string) =>
    cleanEnv({
      npm_config_prefix: globalPrefix,
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      PATH: `${path.join(globalPrefix, 'bin')}:${process.env.PATH}`,
    });
  // The clone is of this repository's committed HEAD; `npm test` is this very suite: not run.
  const commands = setup.filter((c) => c !== 'npm test').map((c) => c.replace(/^git clone \S+/, `git clone ${ROOT.replace(/\/$/, '')}`));
  const setupRun = typeCommands(t, commands, scratch, env(prefix), path.join(scratch, 'cwd'));
  if (!setupRun.ok) return;
  const clone = setupRun.cwd;
  t.equal(clone, path.join(scratch, 'tscp'), 'the commands end in the clone');
  t.equal(setupRun.outputs.get('tscp --version')?.trim(), pkg.version, `tscp --version printed ${pkg.version}`);

  const which = spawnSync('bash', ['-c', 'command -v tscp'], { cwd: '/', env: env(prefix), encoding: 'utf8' });
  t.equal(which.stdout.trim(), path.join(prefix, 'bin', 'tscp'), 'tscp on PATH is the one in the global prefix');
  const v = spawnSync('tscp', ['--version'], { cwd: '/', env: env(prefix), encoding: 'utf8' });
  t.equal(v.stdout.trim(), pkg.version, 'tscp --version from / works');
  const src = path.join(scratch, 'src.bin');
  writeRandom(src, 1024 * 1024 + 5);
  const copied = spawnSync('tscp', [src, path.join(scratch, 'copy.bin')], { cwd: '/', env: env(prefix), encoding: 'utf8' });
  t.equal(copied.status, 0, `tscp SRC DST from / exits 0 ${copied.stderr}`);
  t.equal(sha256(path.join(scratch, 'copy.bin')), sha256(src), 'and makes an exact copy');

  // The tarball route, from the same clone, into a second prefix.
  const prefix2 = path.join(scratch, 'global-from-tarball');
  const tarRun = typeCommands(t, tarballRoute, clone, env(prefix2), path.join(scratch, 'cwd'));
  if (!tarRun.ok) return;
  const installOutput = tarRun.outputs.get(`npm install -g ./${tarball}`) ?? '';
  const aboutTscp = installOutput.split('\n').filter((l) => /\bwarn\b/i.test(l) && /\btscp\b/.test(l));
  t.same(aboutTscp, [], `installing the tarball warns about none of tscp's own scripts${aboutTscp.length ? `:\n${installOutput}` : ''}`);
  t.notMatch(installOutput, /tscp@[^\s]+ \((pre|post)?(install|prepare)/, 'no tscp install or prepare script is listed');
  const v2 = spawnSync(path.join(prefix2, 'bin', 'tscp'), ['--version'], { cwd: '/', env: env(prefix2), encoding: 'utf8' });
  t.equal(v2.stdout.trim(), pkg.version, 'the tarball\'s tscp --version from / works');
  t.ok(fs.lstatSync(path.join(prefix2, 'lib', 'node_modules', 'tscp')).isDirectory(), 'the tarball install is a copy, not a link to the clone');
});

t.test('start-up stays lean: what each kind of run loads', async (t) => {
  const scratch = scratchDir(t);
  const log = path.join(scratch, 'loaded.log');
  // ESM imports go through a resolve hook; CommonJS require() calls (the bundle's own files,
  // koffi's) through Module._load. Both are logged, with the file each resolved to.
  fs.writeFileSync(
    path.join(scratch, 'hooks.mjs'),
    `import fs from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  fs.appendFileSync(log, 'esm ' + specifier + ' ' + r.url + '\\n');
  return r;
}
`,
  );
  fs.writeFileSync(
    path.join(scratch, 'preload.mjs'),
    `import { register, createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
const log = process.env.TSCP_LOAD_LOG;
register(new URL('./hooks.mjs', import.meta.url), { data: { log } });
const Module = createRequire(import.meta.url)('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  let file = '';
  try {
    file = ' ' + pathToFileURL(Module._resolveFilename(request, parent, isMain)).href;
  } catch {}
  fs.appendFileSync(log, 'cjs ' + request + file + '\\n');
  return load.apply(this, arguments);
};
`,
  );
  const preload = pathToFileURL(path.join(scratch, 'preload.mjs')).href;
  const src = path.join(scratch, 'src');
  writeRandom(src, 64 * 1024);

  function loaded(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; has: (name: string) => boolean; log: string } {
    fs.writeFileSync(log, '');
    const r = sh(process.execPath, ['--import', preload, BIN, ...args], { env: cleanEnv({ TSCP_LOAD_LOG: log, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    const text = fs.readFileSync(log, 'utf8');
    // The command is bundled (dist/bin/): a package inside a bundle file is loaded with that
    // file, which esbuild marks with a `// node_modules/NAME/...` line per module (a path
    // relative to the build's directory: `../x/node_modules/...` where node_modules is a link).
    const bundleFiles = [...new Set([...text.matchAll(/ (file:\S*\/dist\/bin\/[^\s]+)$/gm)].map((m) => m[1]!))];
    const bundled = bundleFiles.map((url) => fs.readFileSync(new URL(url), 'utf8')).join('\n');
    const has = (name: string) => {
      // koffi counts as loaded when its native part is, through koffi or its platform package.
      const pattern = name === 'koffi' ? '(koffi|@koromix/koffi-[^/]+)' : name;
      return new RegExp(`(^(esm|cjs) ${pattern}(/|\\s|$))|/node_modules/${pattern}/`, 'm').test(text) || new RegExp(`^// (\\S*/)?node_modules/${name}/`, 'm').test(bundled);
    };
    return { status: r.status, stderr: r.stderr, has, log: text };
  }

  const version = loaded(['--version']);
  t.equal(version.status, 0, '--version exits 0');
  // --version answers before loading even commander.
  for (const name of ['commander', 'koffi', 'chalk', 'cli-progress']) t.notOk(version.has(name), `--version does not load ${name}`);

  const help = loaded(['--help']);
  t.equal(help.status, 0, '--help exits 0');
  t.ok(help.has('commander'), 'the hooks see what is loaded (--help loads commander)');
  for (const name of ['koffi', 'chalk', 'cli-progress']) t.notOk(help.has(name), `--help does not load ${name}`);

  // `tscp SOURCE DEST` to a new name goes the quick way (Node's copyFile): nothing loaded.
  const plain = loaded([src, path.join(scratch, 'plain-copy')]);
  t.equal(plain.status, 0, `a plain copy exits 0 ${plain.stderr}`);
  for (const name of ['commander', 'koffi', 'chalk', 'cli-progress']) t.notOk(plain.has(name), `a plain copy to a new name does not load ${name}`);
  const engine = loaded(['--copy', src, path.join(scratch, 'engine-copy')]);
  t.equal(engine.status, 0, `a copy through the engine exits 0 ${engine.stderr}`);
  t.ok(engine.has('koffi'), 'a copy through the engine loads koffi (the hooks see native code being loaded)');
  // Straight from koffi's platform package, beside koffi here: koffi's entry is not run.
  t.match(engine.log, /^cjs @koromix\/koffi-[^ ]+ file:\S+/m, "koffi's native module is required from its platform package");
  t.notMatch(engine.log, /\/node_modules\/koffi\/index\.c?js$/m, "koffi's entry (index.cjs) is not loaded");
  t.ok(engine.has('commander'), 'a copy with an option loads commander (the hooks see bundled packages)');
  for (const name of ['chalk', 'cli-progress']) t.notOk(engine.has(name), `a copy with stderr not a terminal does not load ${name}`);

  const failed = loaded([path.join(scratch, 'missing'), path.join(scratch, 'never')]);
  t.equal(failed.status, 1, 'a failed copy exits 1');
  for (const name of ['chalk', 'cli-progress']) t.notOk(failed.has(name), `a failed copy with stderr not a terminal does not load ${name}`);

  // --progress alone goes the quick way, which prints nothing for a small file: --copy
  // takes this one through the engine, which paints.
  const quick = loaded(['--progress', src, path.join(scratch, 'quick-progress-copy')], { FORCE_COLOR: '1' });
  t.equal(quick.status, 0, '--progress, a small plain copy: exits 0');
  for (const name of ['commander', 'koffi', 'chalk', 'cli-progress']) t.notOk(quick.has(name), `--progress, a small plain copy: ${name} not loaded`);
  // Declined by the quick way (DEST exists): the engine, still without commander.
  const existing = path.join(scratch, 'quick-progress-copy');
  const declined = loaded(['--progress', src, existing]);
  t.equal(declined.status, 0, '--progress onto an existing DEST: exits 0');
  t.ok(declined.has('koffi'), '--progress onto an existing DEST: the engine (koffi) copies');
  t.notOk(declined.has('commander'), '--progress onto an existing DEST: commander not loaded (no option needs it)');
  const forced = loaded(['--progress', '--copy', src, path.join(scratch, 'forced-copy')], { FORCE_COLOR: '1' });
  t.equal(forced.status, 0, '--progress with FORCE_COLOR=1 exits 0');
  t.ok(forced.has('chalk'), 'with FORCE_COLOR=1 chalk is loaded (the hooks can see it)');
  // The bar is due only after 250 ms: a 64 KiB copy ends first and never loads cli-progress.
  t.notOk(forced.has('cli-progress'), 'with --progress, a copy that ends before the bar is due does not load cli-progress');
});
