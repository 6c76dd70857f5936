import { constants, inflateRawSync } from 'node:zlib';

/**
 * Watches the client → workspace byte stream of a proxied WebSocket and
 * reports each frame's opcode and length, without changing a byte.
 * The idle policy needs to tell what a student sends (data frames) from
 * pings and keep-alives; parsing only the 2–14 header bytes of each frame keeps
 * that cheap on the hot path.
 *
 * A compressed message (permessage-deflate, each message compressed on its
 * own: websocket-extensions.ts) is reported once, when its last fragment has
 * passed, with its uncompressed length and first byte: a copy of its payload
 * is unmasked and inflated. Only small messages are: one whose compressed
 * payload is over `INFLATE_LIMIT` bytes is larger than anything the idle rule
 * tells apart, and is reported with length `Infinity`, as is one that inflates
 * to more than `INFLATE_LIMIT` bytes.
 */

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** `firstByte` is the first unmasked (and inflated) payload byte, or -1 for an empty payload or a message not inflated. */
export type FrameListener = (opcode: number, length: number, firstByte: number) => void;

/** Compressed messages up to this size are inflated (the editor's keep-alives compress to 4–20 bytes). */
export const INFLATE_LIMIT = 256;
/** The 4 bytes the sender removed from the end of each compressed message (RFC 7692 §7.2.1). */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/**
 * The smallest window zlib takes (512 bytes) is enough: no output past 512 bytes is ever asked
 * for, and a distance back no further than the output so far is all a valid message can hold
 * there. A 32 KiB window for each of these one-shot inflaters cost a third of their time.
 */
const INFLATE_OPTIONS = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: INFLATE_LIMIT, chunkSize: INFLATE_LIMIT, windowBits: 9 };

const enum Stage {
  Head,
  Payload,
}

export interface FrameScannerOptions {
  /** The client compresses messages (permessage-deflate, no context takeover). */
  compressed?: boolean;
  /** A compressed message that does not inflate: the socket is to be closed. Reading stops. */
  onInvalid?: () => void;
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
  private fin = false;
  /** The compressed message being read: its opcode (-1: none), and its unmasked payload while small enough (undefined: too large). */
  private messageOpcode = -1;
  private message: Buffer | undefined;
  private messageLength = 0;
  /** Whether the current frame's payload belongs to the compressed message. */
  private collecting = false;
  private payloadOffset = 0;
  private failed = false;

  constructor(
    private readonly onFrame: FrameListener,
    private readonly options: FrameScannerOptions = {},
  ) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && !this.failed) {
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
      if (this.collecting) this.collect(chunk, i, take);
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) this.frameDone();
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
    const b0 = this.head[0]!;
    this.opcode = b0 & 0x0f;
    this.length = len7 === 126 ? this.head.readUInt16BE(2) : len7 === 127 ? Number(this.head.readBigUInt64BE(2)) : len7;
    this.mask = masked ? this.head.readUInt32BE(2 + extra) : 0;
    this.headLength = 0;
    this.remaining = this.length;
    this.payloadOffset = 0;
    this.fin = (b0 & 0x80) !== 0;
    this.collecting = this.options.compressed === true && this.startsOrContinuesCompressed(b0);
    if (this.length === 0) {
      if (!this.collecting) this.onFrame(this.opcode, 0, -1);
      this.frameDone();
      return;
    }
    this.stage = Stage.Payload;
    this.needFirstByte = !this.collecting;
  }

  /** Control frames may come between a message's fragments; only data frames take part in it. */
  private startsOrContinuesCompressed(b0: number): boolean {
    if (this.opcode === OPCODE.continuation) return this.messageOpcode !== -1;
    if (this.opcode !== OPCODE.text && this.opcode !== OPCODE.binary) return false;
    if ((b0 & 0x40) === 0) return false; // RSV1 clear: this message was sent uncompressed
    this.messageOpcode = this.opcode;
    this.messageLength = 0;
    this.message = Buffer.allocUnsafe(INFLATE_LIMIT);
    return true;
  }

  private collect(chunk: Buffer, from: number, count: number): void {
    const message = this.message;
    if (message === undefined) return;
    if (this.messageLength + count > INFLATE_LIMIT) {
      this.message = undefined;
      return;
    }
    for (let k = 0; k < count; k++) {
      const shift = 24 - ((this.payloadOffset++ & 3) << 3);
      message[this.messageLength++] = chunk[from + k]! ^ ((this.mask >>> shift) & 0xff);
    }
  }

  private frameDone(): void {
    this.stage = Stage.Head;
    if (!this.collecting || !this.fin) return;
    this.collecting = false;
    const opcode = this.messageOpcode;
    const message = this.message;
    this.messageOpcode = -1;
    this.message = undefined;
    if (message === undefined) return this.onFrame(opcode, Infinity, -1);
    let plain: Buffer;
    try {
      plain = inflateRawSync(Buffer.concat([message.subarray(0, this.messageLength), DEFLATE_TAIL]), INFLATE_OPTIONS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return this.onFrame(opcode, Infinity, -1);
      this.failed = true;
      return this.options.onInvalid?.();
    }
    this.onFrame(opcode, plain.length, plain.length > 0 ? plain[0]! : -1);
  }
}
