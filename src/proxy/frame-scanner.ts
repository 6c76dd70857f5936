/**
 * Watches the client → workspace byte stream of a proxied WebSocket and
 * reports each frame's opcode and length, without copying or changing a byte.
 * The idle policy needs to tell what a student sends (data frames) from
 * pings and keep-alives; parsing only the 2–14 header bytes of each frame keeps
 * that cheap on the hot path.
 */

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** `firstByte` is the first unmasked payload byte (or -1 for an empty payload). */
export type FrameListener = (opcode: number, length: number, firstByte: number) => void;

const enum Stage {
  Head,
  Payload,
}

export class FrameScanner {
  private stage = Stage.Head;
  /** Header bytes gathered so far (headers may be split across chunks). */
  private readonly head = Buffer.allocUnsafe(14); // from the shared pool: no buffer of its own per socket
  private headLength = 0;
  private remaining = 0;
  private opcode = 0;
  private length = 0;
  private mask = 0;
  private needFirstByte = false;

  constructor(private readonly onFrame: FrameListener) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.stage === Stage.Head) {
        this.head[this.headLength++] = chunk[i++]!;
        this.tryHeader();
        continue;
      }
      if (this.needFirstByte) {
        this.needFirstByte = false;
        this.onFrame(this.opcode, this.length, chunk[i]! ^ (this.mask >>> 24));
      }
      const take = Math.min(this.remaining, chunk.length - i);
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) this.stage = Stage.Head;
    }
  }

  private tryHeader(): void {
    if (this.headLength < 2) return;
    const b1 = this.head[1]!;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const need = 2 + extra + (masked ? 4 : 0);
    if (this.headLength < need) return;
    this.opcode = this.head[0]! & 0x0f;
    this.length = len7 === 126 ? this.head.readUInt16BE(2) : len7 === 127 ? Number(this.head.readBigUInt64BE(2)) : len7;
    this.mask = masked ? this.head.readUInt32BE(2 + extra) : 0;
    this.headLength = 0;
    this.remaining = this.length;
    if (this.length === 0) {
      this.onFrame(this.opcode, 0, -1);
      return;
    }
    this.stage = Stage.Payload;
    this.needFirstByte = true;
  }
}
