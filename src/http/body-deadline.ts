import type { IncomingMessage, ServerResponse } from 'node:http';

interface Watched {
  req: IncomingMessage;
  res: ServerResponse;
  bytesRead: number;
  lastProgress: number;
}

/**
 * Request bodies must keep flowing: a body that sends no byte for
 * `timeoutMs` while the gateway is reading it is expired (`onExpired`
 * answers or closes). Node's own requestTimeout is one clock for the whole
 * request, which a restore needs at 30 minutes and nothing else does.
 *
 * One timer for every request, checked a few times per timeout, comparing
 * the socket's byte count between sweeps: a timer per request, or a 'data'
 * listener on it (which would change how the body flows), costs more than
 * the request. A body the gateway is not reading at the moment (waiting for
 * a spawn, or paused because the workspace reads slowly) is not the
 * client's fault: its clock starts again.
 */
export class BodyDeadline {
  private readonly watched = new Set<Watched>();
  private timer?: NodeJS.Timeout;
  private readonly sweepMs: number;

  constructor(
    private readonly timeoutMs: number,
    private readonly onExpired: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    this.sweepMs = Math.min(1000, Math.max(50, Math.floor(timeoutMs / 4)));
  }

  /** Watches `req` until its body is complete or its answer is done. */
  watch(req: IncomingMessage, res: ServerResponse): void {
    this.watched.add({ req, res, bytesRead: req.socket.bytesRead, lastProgress: Date.now() });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.watched.size;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of this.watched) {
      const { req, res } = w;
      // Answered early: closeWhenAnsweredEarly ends the connection; nothing more to wait for.
      if (req.complete || req.destroyed || res.writableEnded || res.destroyed) {
        this.watched.delete(w);
        continue;
      }
      const bytesRead = req.socket.bytesRead;
      const reading = req.readableFlowing === true && !req.socket.isPaused();
      if (bytesRead !== w.bytesRead || !reading) {
        w.bytesRead = bytesRead;
        w.lastProgress = now;
      } else if (now - w.lastProgress >= this.timeoutMs) {
        this.watched.delete(w);
        try {
          this.onExpired(req, res);
        } catch {
          // Out of a timer, a throw would end the process: this request's connection ends instead.
          req.socket.destroy();
        }
      }
    }
    if (this.watched.size === 0) this.close();
  }
}
