// Summarises a V8 .cpuprofile (from node --cpu-prof): self time per function
// (timeDeltas summed per sampled node, grouped by functionName + url) and per
// area (Node's own http/net code, the gateway, each npm package, GC, idle).
import { readFileSync } from 'node:fs';

function shortUrl(url) {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1);
  return url.replace(/^file:\/\//, '');
}

function areaOf(functionName, url) {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'V8/native (program)';
  if (!url) return 'native/builtin';
  if (url.startsWith('wasm://')) return 'wasm';
  if (url.startsWith('node:')) {
    const m = /^node:(internal\/)?([^/]+)/.exec(url);
    return `node:${m?.[2] ?? url}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm:${rest[0].startsWith('@') ? rest.slice(0, 2).join('/') : rest[0]}`;
  }
  if (url.includes('/dist/')) return 'gateway (dist/)';
  return 'other';
}

/**
 * `window` ({fromUs, toUs}, monotonic µs like process.hrtime, the clock V8's
 * profiler stamps samples with) keeps only the samples taken during the
 * measured round, leaving out start-up (module compilation) and warm-up.
 */
export function summarizeProfile(file, top = 20, window) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let at = profile.startTime;
  let kept = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    kept++;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta);
  }
  const functions = new Map();
  const areas = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') idle += us;
    const key = `${name} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const area = areaOf(name, url);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (map) =>
    [...map.entries()]
      .filter(([key]) => !key.startsWith('(idle)') && key !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([key, us]) => ({ key, ms: us / 1000, share_of_busy: busy > 0 ? us / busy : 0 }));
  return {
    file,
    samples: kept,
    windowed: Boolean(window),
    total_ms: total / 1000,
    busy_ms: busy / 1000,
    idle_ms: idle / 1000,
    functions: rank(functions).slice(0, top),
    areas: rank(areas),
  };
}
