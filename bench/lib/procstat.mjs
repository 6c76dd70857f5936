// CPU and memory of processes from /proc (Linux only).
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {}
export const CLK_TCK = clockTicks;

/** Fields after the `(comm)` of /proc/<pid>/stat; field n of proc(5) is index n-3. */
function statFields(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime+stime of one process in clock ticks (all its threads), or 0 when it is gone. */
export function cpuTicks(pid) {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : 0;
}

/** Kernel-mode part (stime) of the process's CPU in clock ticks. */
export function sysTicks(pid) {
  const f = statFields(pid);
  return f ? Number(f[12]) : 0;
}

/** cutime+cstime: CPU of children this process has waited for (how wrk's CPU is counted). */
export function childrenTicks(pid = process.pid) {
  const f = statFields(pid);
  return f ? Number(f[13]) + Number(f[14]) : 0;
}

/** The process and every descendant (nginx master + workers). */
export function processTree(rootPid) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (f) parentOf.set(Number(name), Number(f[1]));
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

export const treeTicks = (pids) => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
export const treeSysTicks = (pids) => pids.reduce((sum, pid) => sum + sysTicks(pid), 0);

/** VmRSS in KiB (0 when gone). */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export const treeRssKiB = (pids) => pids.reduce((sum, pid) => sum + rssKiB(pid), 0);

/**
 * Machine-wide jiffies from the first line of /proc/stat. `busy` is time spent
 * in processes (user, nice, system); interrupt and softirq time (mostly the
 * loopback network the bench itself causes) and steal are kept apart.
 */
export function machineTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system;
  return { busy, irq: irq + softirq, steal: steal ?? 0, total: busy + irq + softirq + idle + (iowait ?? 0) + (steal ?? 0) };
}

/**
 * The share of the machine's time (between two machineTicks() readings) that
 * processes other than the measured ones used, given the ticks the measured
 * ones used: other sessions' work, daemons, other tenants' containers.
 */
export function othersShare(before, after, ownTicks) {
  const total = after.total - before.total;
  return total > 0 ? Math.max(0, after.busy - before.busy - ownTicks) / total : 0;
}
