import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { WorkspaceNotRunningError } from '../errors.js';
import { sendJson } from '../http/respond.js';
import type { WorkspaceManager } from '../workspaces/manager.js';
import type { ApiEndpoint } from './endpoint.js';
import { NOTICE_SCRIPT } from './notice-script.js';

/*
 * The warning before an idle stop (SPEC §8), the gateway's half: the tag
 * added to code-server's workbench page (http/workspace-forwarding.ts), the
 * script it loads (notice-script.ts), the event stream that script follows,
 * and its "Keep working" call. Only the call counts as activity; the script
 * and the stream are API requests, which never touch a workspace's idle clock.
 */

/** The API path of a user's notice calls. */
export function noticeBase(user: string): string {
  return `/api/workspaces/${user}`;
}

/** What the workbench page gets before its `</head>` (user ids need no escaping: `[A-Za-z0-9_.-]`). */
export function noticeScriptTag(user: string): string {
  return `<script src="${noticeBase(user)}/notice.js" defer></script>`;
}

export interface IdleNoticesOptions {
  manager: WorkspaceManager;
  /** IdlePolicy.stopsAt: from when a running workspace is due for an idle stop. */
  stopsAt: (user: string) => number | undefined;
  /** GATEWAY_IDLE_WARNING. */
  warningMs: number;
  /** GATEWAY_IDLE_TIMEOUT, for the sentence after an idle stop. */
  idleTimeoutMs: number;
  logger: Logger;
  now?: () => number;
}

/** Comment lines so proxies and browsers keep an idle stream. */
const HEARTBEAT_MS = 15_000;
/** While a warning shows, how often the stream looks whether activity moved the stop time. */
const RECHECK_MS = 5_000;
/** While a workspace is starting (another tab woke it), how often the stream looks again. */
const STARTING_RECHECK_MS = 5_000;
/** How long a browser waits before it reconnects a stream that broke. */
const RETRY_MS = 5_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

type Shown = 'none' | 'active' | 'warning' | 'stopped';

/** One open tab's stream. */
interface NoticeStream {
  user: string;
  res: ServerResponse;
  shown: Shown;
  /** The stop time the last warning announced. */
  warnedStopsAt?: number;
  timer?: NodeJS.Timeout;
}

/**
 * Every open tab's notice stream. Each has one timer, aimed at the moment its
 * workspace would have to be warned about (stop time − warning) and re-aimed
 * when activity moved it; while a warning shows it looks every few seconds,
 * so typing elsewhere takes the notice away. Nothing is done per activity.
 * Stops come from the manager's own news (before the stop, with its reason).
 */
export class IdleNotices {
  private readonly streams = new Map<string, Set<NoticeStream>>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly now: () => number;
  /** Never more than half the idle timeout: a longer warning would show after every keystroke. */
  readonly warningMs: number;
  /** While warned: often enough to see activity before the next warning would be due. */
  private readonly recheckMs: number;

  constructor(private readonly options: IdleNoticesOptions) {
    this.now = options.now ?? Date.now;
    this.warningMs = Math.min(options.warningMs, Math.floor(options.idleTimeoutMs / 2));
    this.recheckMs = Math.max(250, Math.min(RECHECK_MS, Math.floor((options.idleTimeoutMs - this.warningMs) / 2)));
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    options.manager.onStopping((user, reason) => this.stopped(user, reason));
    options.manager.onDown((user, reason) => this.stopped(user, reason));
  }

  /** The script the workbench page loads (the same for everyone). */
  script(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'private, max-age=300',
      'x-content-type-options': 'nosniff',
      'content-length': Buffer.byteLength(NOTICE_SCRIPT),
    });
    res.end(NOTICE_SCRIPT);
  }

  /** Server-sent events for one tab: its workspace's state now, then each change (`active`, `warning`, `stopped`). */
  stream(res: ServerResponse, user: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(`retry: ${RETRY_MS}\n\n`);
    const stream: NoticeStream = { user, res, shown: 'none' };
    let mine = this.streams.get(user);
    if (!mine) this.streams.set(user, (mine = new Set()));
    mine.add(stream);
    res.once('close', () => this.close(stream));
    this.look(stream);
  }

  /** "Keep working": activity, and every tab of the workspace hears at once that the warning is over. */
  keepWorking(user: string): number {
    const ws = this.options.manager.get(user);
    if (!ws || ws.state !== 'running' || ws.stopping !== undefined) throw new WorkspaceNotRunningError(user);
    this.options.manager.touch(user, 'keep working');
    for (const stream of this.streams.get(user) ?? []) this.look(stream);
    return this.options.stopsAt(user) ?? this.now();
  }

  /** Open streams (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.streams.values()) n += set.size;
    return n;
  }

  close(stream?: NoticeStream): void {
    if (!stream) {
      clearInterval(this.heartbeat);
      for (const set of this.streams.values()) for (const s of set) this.close(s);
      return;
    }
    clearTimeout(stream.timer);
    const set = this.streams.get(stream.user);
    set?.delete(stream);
    if (set?.size === 0) this.streams.delete(stream.user);
    if (!stream.res.writableEnded) stream.res.end();
  }

  /** Where the stream's workspace stands now: tells the tab what changed and aims the timer at the next moment worth a look. */
  private look(stream: NoticeStream): void {
    clearTimeout(stream.timer);
    stream.timer = undefined;
    const ws = this.options.manager.get(stream.user);
    // Being stopped right now: the stop's own news follows.
    if (ws?.stopping !== undefined) return;
    if (ws?.pending || ws?.state === 'creating') {
      this.show(stream, 'active', {});
      return this.aim(stream, STARTING_RECHECK_MS);
    }
    const stopsAt = ws?.state === 'running' ? this.options.stopsAt(stream.user) : undefined;
    if (stopsAt === undefined) return this.stopped(stream.user, ws?.reason ?? (ws?.state === 'absent' ? 'removed' : 'stopped'), stream);
    const now = this.now();
    const warnAt = stopsAt - this.warningMs;
    if (now < warnAt) {
      this.show(stream, 'active', {});
      return this.aim(stream, warnAt - now);
    }
    // A new warning only when the stop time moved (a hold, say); not every recheck.
    if (stream.shown !== 'warning' || Math.abs((stream.warnedStopsAt ?? 0) - stopsAt) > 1000) {
      stream.shown = 'none';
      stream.warnedStopsAt = stopsAt;
      this.show(stream, 'warning', { stopsAt, stopsInMs: Math.max(0, stopsAt - now), reason: 'idle' });
    }
    this.aim(stream, this.recheckMs);
  }

  private aim(stream: NoticeStream, ms: number): void {
    stream.timer = setTimeout(() => this.look(stream), Math.min(MAX_TIMER_MS, Math.max(250, ms)));
    stream.timer.unref();
  }

  /** Sends `event` unless the tab shows it already. */
  private show(stream: NoticeStream, event: Exclude<Shown, 'none'>, data: object): void {
    if (stream.shown === event) return;
    stream.shown = event;
    stream.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** The workspace stopped (or is about to): its tabs say why, and their streams end. */
  private stopped(user: string, reason: string, only?: NoticeStream): void {
    const set = this.streams.get(user);
    if (!set) return;
    for (const stream of only ? [only] : [...set]) {
      this.show(stream, 'stopped', { reason, message: stoppedSentence(reason, this.options.idleTimeoutMs) });
      this.close(stream);
    }
    if (!only) this.options.logger.info({ user, reason, tabs: set.size }, 'told open editor tabs their workspace stopped');
  }

  private beat(): void {
    for (const set of this.streams.values()) for (const stream of set) stream.res.write(': still here\n\n');
  }
}

/** What an open tab says after its workspace stopped, for each reason the gateway stops with (else the runtime's own sentence). */
export function stoppedSentence(reason: string, idleTimeoutMs: number): string {
  if (reason === 'idle') return `Your workspace was stopped because nothing happened in it for ${spokenDuration(idleTimeoutMs)}. Your files are kept.`;
  if (reason === 'stopped by the user') return 'Your workspace was stopped at your request (from another tab or the LMS). Your files are kept.';
  if (reason.startsWith('stopped by admin '))
    return `Your workspace was stopped by a member of staff (${reason.slice('stopped by admin '.length)}). Your files are kept.`;
  if (reason === 'stopped to make room')
    return "Your workspace was stopped to make room for another student's: all places were in use and it had been unused the longest. Your files are kept.";
  if (reason.startsWith('moved to ')) return 'Your workspace was stopped to move it to another server. Your files are kept.';
  if (reason === 'removed' || reason === 'removed outside the gateway') return 'Your workspace was removed by staff.';
  if (reason === 'stopped') return 'Your workspace is not running any more. Your files are kept.';
  return `Your workspace stopped: ${reason}.`;
}

/** 30 minutes, 1 hour, 90 seconds, 1 hour 30 minutes. */
export function spokenDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds < 120 && seconds % 60 !== 0) return unit(seconds, 'second');
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return unit(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? unit(hours, 'hour') : `${unit(hours, 'hour')} ${unit(minutes % 60, 'minute')}`;
}

/** The notice's calls in the API table: the script, its stream, and "Keep working" (the workspace's owner, or an admin). */
export function noticeEndpoints(notices: IdleNotices, manager: WorkspaceManager, logger: Logger): ApiEndpoint[] {
  return [
    {
      method: 'GET',
      pattern: ['workspaces', ':user', 'notice.js'],
      who: 'owner',
      handle: ({ res }) => notices.script(res),
    },
    {
      method: 'GET',
      pattern: ['workspaces', ':user', 'notice'],
      who: 'owner',
      async handle({ res, user }) {
        // A picture the gateway is not sure of (just restarted, say) is read from the engine first.
        const ws = manager.get(user);
        if (!ws?.confirmed && !ws?.pending) await manager.refresh(user);
        notices.stream(res, user);
      },
    },
    {
      method: 'POST',
      pattern: ['workspaces', ':user', 'keep-working'],
      who: 'owner',
      handle({ res, user, ctx }) {
        const stopsAt = notices.keepWorking(user);
        logger.info({ reqId: ctx.id, user, by: ctx.identity?.user }, 'keep working: the idle stop moved');
        sendJson(res, 200, { user, stopsAt: new Date(stopsAt).toISOString() });
      },
    },
  ];
}
