/**
 * What the suite shows and writes: the terminal table, and the SVG bar chart of each
 * target's measured value against the target (written as text, no browser involved).
 */
import { formatBytes, formatMs, round } from './util.js';

/** Pad to a width, counting characters as they show on a terminal (no wide glyphs used). */
function pad(s, w, right = false) {
  const str = String(s);
  return right ? str.padStart(w) : str.padEnd(w);
}

/** Rows are arrays of cells, or a string printed as it is (a note under the row above). */
function renderTable(headers, rows, rightAligned = new Set()) {
  const cellRows = rows.filter((r) => Array.isArray(r));
  const widths = headers.map((h, i) => Math.max(h.length, ...cellRows.map((r) => String(r[i] ?? '').length)));
  const line = (cells) => (Array.isArray(cells) ? cells.map((c, i) => pad(c ?? '', widths[i], rightAligned.has(i))).join('  ').trimEnd() : cells);
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const RSS_LABEL = 'peak RSS of tscp, big-file copies';
export const TREE_RSS_LABEL = 'peak RSS of tscp -a, tree on ext4';

const yesNo = (met) => (met === null || met === undefined ? '' : met ? 'yes' : 'NO');

/** The scenario table: one line per tool, the ratio and target on the target peer's line. */
export function scenarioTable(results) {
  const headers = ['scenario', 'tool', 'median', 'min-max', 'peak RSS', 'CPU', 'tscp/tool', 'target', 'met'];
  const rows = [];
  for (const s of results.scenarios) {
    s.tools.forEach((t, i) => {
      const isTarget = t.name === s.target.peer;
      const ratio = i === 0 ? '' : s.ratios[t.name]?.median;
      rows.push([
        i === 0 ? s.title : '',
        t.name,
        formatMs(t.medianMs),
        t.minMs === null ? '-' : `${formatMs(t.minMs)}-${formatMs(t.maxMs)}`,
        t.peakRssMiB === null ? '-' : `${t.peakRssMiB} MiB`,
        t.medianCpuS === null ? '-' : `${t.medianCpuS.toFixed(2)} s`,
        ratio === '' || ratio === null || ratio === undefined ? '' : ratio.toFixed(3),
        isTarget ? `<= ${s.target.maxRatio.toFixed(2)}` : '',
        isTarget ? yesNo(s.met) : '',
      ]);
      // tscp's check always; a peer's where the scenario is about allocation, or when its tree copy is wrong.
      if (t.check && (t.tscp || s.target.allocationWithinBytes || (s.tree && t.check.ok === false))) {
        const alloc =
          s.target.allocationWithinBytes && t.tscp
            ? ` [allocation target within 1 MiB: ${yesNo(t.check.ok)}]`
            : s.target.sharedAtLeast && t.tscp
              ? ` [shared target >= ${(s.target.sharedAtLeast * 100).toFixed(1)}%: ${yesNo(t.check.ok)}]`
              : '';
        rows.push(`    ${t.name} output: ${t.check.detail}${alloc}`);
      }
    });
    if (s.engine && s.engine.durationMs !== undefined) {
      const methods = Object.entries(s.engine.bytes)
        .filter(([k, v]) => v > 0 && k !== 'holes')
        .map(([k]) => k)
        .join('+');
      const fb = s.engine.fallbacks.map((f) => `${f.from}->${f.to} ${f.errno}${f.files === undefined ? '' : ` (${f.files} files)`}`).join(', ');
      if (s.engine.kind === 'tree') {
        const c = s.engine.counts;
        rows.push(`    tscp engine (one --json run): tree copy ${formatMs(s.engine.durationMs)} of ${formatMs(s.engine.wallMs)} wall, ${s.engine.jobs} workers; ${c.files} files, ${c.directories} directories; ${methods || 'no data'}${fb ? `; fallbacks: ${fb}` : ''}`);
      } else {
        rows.push(`    tscp engine (one --json run): copy() ${formatMs(s.engine.durationMs)} of ${formatMs(s.engine.wallMs)} wall; ${methods || 'no data'}${fb ? `; fallbacks: ${fb}` : ''}`);
      }
    }
    if (s.error) rows.push(`    ERROR: ${s.error}`);
  }
  const rss = results.rss;
  if (rss) rows.push([RSS_LABEL, rss.scenario ?? '-', '', '', rss.peakMiB === null ? '-' : `${rss.peakMiB} MiB`, '', '', `<= ${rss.targetMiB} MiB`, yesNo(rss.met)]);
  const trss = results.treeRss;
  if (trss) rows.push([TREE_RSS_LABEL, trss.scenario ?? '-', '', '', trss.peakMiB === null ? '-' : `${trss.peakMiB} MiB`, '', '', `<= ${trss.targetMiB} MiB`, yesNo(trss.met)]);
  return renderTable(headers, rows, new Set([2, 4, 5, 6]));
}

export function sweepTables(sweeps) {
  const out = [];
  for (const sw of sweeps.series) {
    const headers = [sw.param, 'median', 'min-max', 'MiB/s', 'peak RSS', 'methods'];
    const rows = sw.points.map((p) => [
      `${formatBytes(p.value)}${p.value === sw.fastest ? ' *' : ''}${p.value === sw.current ? ' (current)' : ''}`,
      formatMs(p.medianMs),
      `${formatMs(p.minMs)}-${formatMs(p.maxMs)}`,
      p.mibPerS === null ? '-' : String(Math.round(p.mibPerS)),
      p.peakRssMiB === null ? '-' : `${p.peakRssMiB} MiB`,
      p.methods,
    ]);
    out.push(`${sw.title}\n${renderTable(headers, rows, new Set([1, 3, 4]))}\n  fastest: ${formatBytes(sw.fastest)}; ${sw.verdict}`);
  }
  if (sweeps.crossFs) out.push(`cross-filesystem (ext4 -> XFS): ${sweeps.crossFs.verdict}`);
  return out.join('\n\n');
}

export function startupTable(startup) {
  const headers = ['start-up step (each a fresh process)', 'median', 'min-max', 'vs empty.mjs', 'peak RSS'];
  const signed = (ms) => (ms === null ? '' : `${ms < 0 ? '-' : '+'}${formatMs(Math.abs(ms))}`);
  const rows = startup.steps.map((s) => [s.label, formatMs(s.medianMs), `${formatMs(s.minMs)}-${formatMs(s.maxMs)}`, signed(s.overFloorMs), s.peakRssMiB === null ? '-' : `${s.peakRssMiB} MiB`]);
  let text = renderTable(headers, rows, new Set([1, 3, 4]));
  if (startup.inProcess) {
    const p = startup.inProcess;
    const w = Math.max(...p.phases.map((ph) => ph.label.length));
    const lines = p.phases.map((ph, i) => `  ${pad(ph.label, w)} ${pad(formatMs(ph.ms), 9, true)}${i > 0 ? `  (${formatMs(ph.ms - p.phases[i - 1].ms)})` : ''}`);
    text += `\n\nInside one process (median of ${p.samples}; ms since the process started):\n${lines.join('\n')}`;
  }
  return text;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * One bar per target: the measured value divided by its target, on a shared axis where the
 * dashed line at 1.0 is the target (left of it = met). The label gives the real numbers.
 */
export function chartRows(results) {
  const rows = [];
  for (const s of results.scenarios) {
    const value = s.ratio;
    rows.push({
      label: s.title,
      sub: `tscp / ${s.target.peer}`,
      norm: value === null ? null : value / s.target.maxRatio,
      text: value === null ? `no result${s.error ? ' (error)' : ''}` : `${value.toFixed(2)}  (target <= ${s.target.maxRatio.toFixed(2)})`,
      met: s.met,
    });
    if (s.target.allocationWithinBytes) {
      const c = s.tools[0].check;
      const diff = c ? Math.abs(c.diff) : null;
      rows.push({
        label: `DEST allocation, sparse on ${s.id.replace(/^sparse-/, '')}`,
        sub: 'DEST - SOURCE allocated bytes',
        // A bar of 0 would be invisible: show at least a sliver.
        norm: diff === null ? null : Math.max(diff / s.target.allocationWithinBytes, 0.01),
        text: diff === null ? 'no result' : `${formatBytes(c.diff)}  (target within 1 MiB)`,
        met: c ? c.ok : false,
      });
    }
  }
  if (results.rss) {
    rows.push({
      label: RSS_LABEL,
      sub: results.rss.scenario ?? '',
      norm: results.rss.peakMiB === null ? null : results.rss.peakMiB / results.rss.targetMiB,
      text: results.rss.peakMiB === null ? 'not measured' : `${results.rss.peakMiB} MiB  (target <= ${results.rss.targetMiB} MiB)`,
      met: results.rss.met,
    });
  }
  const trss = results.treeRss;
  if (trss) {
    rows.push({
      label: TREE_RSS_LABEL,
      sub: `${trss.scenario ?? ''}${trss.jobs ? `, ${trss.jobs} workers` : ''}`,
      norm: trss.peakMiB === null ? null : trss.peakMiB / trss.targetMiB,
      text: trss.peakMiB === null ? 'not measured' : `${trss.peakMiB} MiB  (target <= ${trss.targetMiB} MiB)`,
      met: trss.met,
    });
  }
  return rows;
}

export function renderSvg(results) {
  const rows = chartRows(results);
  const W = 1100;
  const left = 400;
  const barArea = 420;
  const rowH = 40;
  const top = 96;
  const height = top + rows.length * rowH + 60;
  // The axis stops at 3x the target: a longer bar is cut and marked, its label has the number.
  const maxNorm = Math.max(...rows.map((r) => r.norm ?? 0));
  const axisMax = Math.min(3, Math.max(1.5, Math.ceil(maxNorm * 1.05 * 2) / 2));
  const step = axisMax <= 2 ? 0.25 : 0.5;
  const x = (v) => left + (Math.min(v, axisMax) / axisMax) * barArea;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="DejaVu Sans, Verdana, Arial, sans-serif" font-size="13">`);
  parts.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  const met = rows.filter((r) => r.met).length;
  const m = results.machine;
  parts.push(`<text x="20" y="28" font-size="18" font-weight="bold">${esc(`tscp benchmark: ${met} of ${rows.length} measurements within their targets`)}</text>`);
  parts.push(`<text x="20" y="50" fill="#555">${esc(`${results.mode} run of ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC: node ${m.node}, Linux ${m.kernel}, ${m.cpus} cores, load average ${m.loadavg[0]} at the start, ${m.loadavgEnd?.[0] ?? '?'} at the end`)}</text>`);
  // Runs per tool differ by scenario (cheap ones do more, the trees fewer).
  const runCounts = results.scenarios.map((sc) => sc.runs).filter((n) => typeof n === 'number');
  const lo = runCounts.length ? Math.min(...runCounts) : results.method.runs;
  const hi = runCounts.length ? Math.max(...runCounts) : results.method.runs;
  const runsText = lo === hi ? `${lo}` : `${lo}-${hi}`;
  parts.push(`<text x="20" y="68" fill="#555">${esc(`median of ${runsText} runs per tool after ${results.method.warmup} warm-up, tools alternating; ratios are medians of pairwise tscp/peer; caches ${results.method.caches.split(' ')[0]}`)}</text>`);
  const axisY = top + rows.length * rowH + 6;
  for (let v = 0; v <= axisMax + 1e-9; v += step) {
    const xx = x(v);
    if (Math.abs(v - 1) > 1e-9) parts.push(`<line x1="${xx}" y1="${top - 8}" x2="${xx}" y2="${axisY}" stroke="#e6e6e6"/>`);
    parts.push(`<text x="${xx}" y="${axisY + 16}" text-anchor="middle" fill="#555" font-size="11">${v.toFixed(step < 0.5 ? 2 : 1)}</text>`);
  }
  parts.push(`<text x="${left + barArea / 2}" y="${axisY + 36}" text-anchor="middle" fill="#555" font-size="11">measured / target (the dashed line is the target; shorter is better)</text>`);
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 10}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`);
    parts.push(`<text x="${left - 10}" y="${y + 28}" text-anchor="end" fill="#777" font-size="11">${esc(r.sub)}</text>`);
    if (r.norm !== null) {
      const w = Math.max(2, x(r.norm) - left);
      parts.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="24" rx="2" fill="${r.met ? '#3a9b48' : '#d0453a'}"/>`);
      if (r.norm > axisMax) parts.push(`<text x="${left + barArea - 6}" y="${y + 21}" text-anchor="end" fill="#ffffff" font-weight="bold">&#187; off scale</text>`);
    }
    parts.push(`<text x="${left + barArea + 12}" y="${y + 21}" fill="${r.met ? '#1d5e27' : '#a12a20'}">${esc(`${r.met ? 'met' : 'MISSED'}: ${r.text}`)}</text>`);
  });
  parts.push(`<line x1="${x(1)}" y1="${top - 8}" x2="${x(1)}" y2="${axisY}" stroke="#222222" stroke-width="1.5" stroke-dasharray="5,4"/>`);
  parts.push(`<text x="${x(1)}" y="${top - 12}" text-anchor="middle" font-size="11" fill="#222222">target</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export { round };
