// One measured load round: wrk against a target, with the CPU the proxy, the
// backend, wrk and everything else on the machine used meanwhile.
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR } from './targets.mjs';
import { CLK_TCK, childrenTicks, cpuTicks, machineTicks, othersShare, sysTicks, treeRssKiB, treeSysTicks, treeTicks } from './procstat.mjs';
import { nowMs, run } from './util.mjs';

const LUA = join(BENCH_DIR, 'wrk-report.lua');
const NCPU = cpus().length;

/**
 * @param target   {name, port, prefix, pids()}
 * @param backend  the backend target (its CPU is reported apart)
 * @param opts     {path, seconds, threads, connections, headers}
 */
export async function wrkRound(target, backend, { path, seconds, threads, connections, headers, busyLimit }) {
  const url = `http://127.0.0.1:${target.port}${target.prefix}${path}`;
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', LUA];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(url);

  const pids = target.pids();
  const isDirect = target === backend;
  const sample = () => ({
    proxy: treeTicks(pids),
    proxySys: isDirect ? sysTicks(backend.pid) : treeSysTicks(pids),
    backend: cpuTicks(backend.pid),
    wrk: childrenTicks(),
    self: cpuTicks(process.pid),
    machine: machineTicks(),
    at: nowMs(),
  });
  const before = sample();
  const result = await run('wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  const after = sample();
  const line = /WRKJSON (\{.*\})/.exec(result.stdout);
  if (result.code !== 0 || !line) throw new Error(`wrk failed against ${target.name} (${url}): code ${result.code}\n${result.stdout}\n${result.stderr}`);
  const w = JSON.parse(line[1]);

  const ticksToUs = 1e6 / CLK_TCK;
  const proxyTicks = after.proxy - before.proxy;
  const backendTicks = after.backend - before.backend;
  const wrkTicks = after.wrk - before.wrk;
  const selfTicks = after.self - before.self;
  const machineTotal = after.machine.total - before.machine.total;
  const steal = after.machine.steal - before.machine.steal;
  const irq = after.machine.irq - before.machine.irq;
  // Process time the measured processes do not account for: other programs,
  // daemons, other tenants' containers. Softirq (loopback networking) is apart.
  const measured = (isDirect ? 0 : proxyTicks) + backendTicks + wrkTicks + selfTicks;
  const otherShare = othersShare(before.machine, after.machine, measured);
  const stealShare = machineTotal > 0 ? steal / machineTotal : 0;
  const errors = w.connect_errors + w.read_errors + w.write_errors + w.status_errors + w.timeout_errors;
  const wallS = (after.at - before.at) / 1000;
  const reqPerSec = w.requests / (w.duration_us / 1e6);
  const cpuTicksOfTarget = isDirect ? backendTicks : proxyTicks;

  return {
    target: target.name,
    url,
    requests: w.requests,
    errors,
    status_errors: w.status_errors,
    req_per_s: reqPerSec,
    mib_per_s: w.bytes / (w.duration_us / 1e6) / (1024 * 1024),
    p50_ms: w.p50_us / 1000,
    p90_ms: w.p90_us / 1000,
    p99_ms: w.p99_us / 1000,
    p999_ms: w.p999_us / 1000,
    latency_max_ms: w.latency_max_us / 1000,
    // The proxy's own CPU per request (for `direct`: the backend's).
    cpu_us_per_req: w.requests > 0 ? (cpuTicksOfTarget * ticksToUs) / w.requests : NaN,
    // Share of that CPU spent in the kernel (socket syscalls, and on loopback the receiving side's network stack).
    cpu_sys_share: cpuTicksOfTarget > 0 ? (after.proxySys - before.proxySys) / cpuTicksOfTarget : NaN,
    cpu_cores: wallS > 0 ? cpuTicksOfTarget / CLK_TCK / wallS : NaN,
    backend_cpu_us_per_req: w.requests > 0 ? (backendTicks * ticksToUs) / w.requests : NaN,
    wrk_cpu_us_per_req: w.requests > 0 ? (wrkTicks * ticksToUs) / w.requests : NaN,
    rss_kib: treeRssKiB(target.pids()),
    other_cpu_share: otherShare,
    steal_share: stealShare,
    irq_share: machineTotal > 0 ? irq / machineTotal : 0,
    busy: otherShare > busyLimit || stealShare > busyLimit,
    machine_cores: NCPU,
    wall_s: wallS,
  };
}
