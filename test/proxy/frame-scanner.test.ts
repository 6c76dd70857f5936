import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { FrameScanner, INFLATE_LIMIT, OPCODE } from '../../src/proxy/frame-scanner.js';
import { isStudentFrame } from '../../src/workspaces/activity.js';

/** A client frame as a browser sends it: masked. */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, masked]);
}

describe('FrameScanner', () => {
  const frames = [
    clientFrame(OPCODE.text, Buffer.from('hello')),
    clientFrame(OPCODE.ping, Buffer.alloc(0)),
    clientFrame(OPCODE.binary, Buffer.alloc(300, 7)),
    clientFrame(OPCODE.binary, Buffer.alloc(70_000, 9), false),
    clientFrame(OPCODE.continuation, Buffer.from('x')),
    clientFrame(OPCODE.pong, Buffer.from('p')),
    clientFrame(OPCODE.close, Buffer.from([0x03, 0xe8])),
  ];
  const expected = [
    [OPCODE.text, 5, 'h'.charCodeAt(0)],
    [OPCODE.ping, 0, -1],
    [OPCODE.binary, 300, 7],
    [OPCODE.binary, 70_000, 9],
    [OPCODE.continuation, 1, 'x'.charCodeAt(0)],
    [OPCODE.pong, 1, 'p'.charCodeAt(0)],
    [OPCODE.close, 2, 0x03],
  ];
  const stream = Buffer.concat(frames);

  it('reads every frame from one chunk', () => {
    const seen: number[][] = [];
    new FrameScanner((...f) => seen.push(f)).push(stream);
    expect(seen).toEqual(expected);
  });

  it('reads the same frames whatever the chunking', () => {
    for (const size of [1, 2, 3, 5, 13, 127, 4096]) {
      const seen: number[][] = [];
      const scanner = new FrameScanner((...f) => seen.push(f));
      for (let i = 0; i < stream.length; i += size) scanner.push(stream.subarray(i, i + size));
      expect(seen, `chunks of ${size}`).toEqual(expected);
    }
  });
});

/**
 * Messages an open code-server 4.100.3 tab sent through the gateway, recorded
 * in Chromium (uncompressed; README "Idle rule"). Hex of the whole message, or
 * of its start when `length` says it was longer (the rest was JSON).
 */
const measured = {
  keepAlive: { hex: '09000000000000021400000000' },
  ack: { hex: '03000000000000016600000000' },
  // [100, id, "telemetry", "ping"]: a burst of 5 every 70 s from an untouched tab.
  latencyPing: { hex: '010000021a000002120000001904040664069504010974656c656d65747279010470696e6700' },
  // [100, id, "extensions", "getExtensionsControlManifest"]: every 5 minutes from an untouched tab.
  controlManifest: {
    hex: '01000002360000022e000000320404066406b104010a657874656e73696f6e73011c676574457874656e73696f6e73436f6e74726f6c4d616e696665737400',
  },
  // One key typed in the terminal: remoteterminal.$input, and the extension host's $acceptTerminalInteraction.
  terminalInput: { hex: '01000003060000031b0000002604040664068006010e72656d6f74657465726d696e616c010624696e70757404020601010120' },
  terminalInteraction: { hex: '01000003ac0000031b0000002801000000df611a246163636570745465726d696e616c496e746572616374696f6e000000035b315d' },
  // One key typed in the editor: $acceptModelChanged to the extension host.
  modelChanged: {
    hex: '01000002cd000001cb0000020101000000445113246163636570744d6f64656c4368616e676564000001e35b7b22246d6964223a312c22667350617468223a',
    length: 1906,
  },
  // ~70 s after the last input, once: the window turned inactive.
  windowInactive: { hex: '010000024d000001640000002a010000002a6718246f6e4469644368616e676557696e646f77416374697665000000075b66616c73655d' },
};

function message(name: keyof typeof measured): Buffer {
  const m: { hex: string; length?: number } = measured[name];
  const head = Buffer.from(m.hex, 'hex');
  return m.length ? Buffer.concat([head, Buffer.alloc(m.length - head.length, 0x20)]) : head;
}

/** Feeds the messages as a browser sends them (masked binary frames) and classifies each. */
function classify(...names: (keyof typeof measured)[]): boolean[] {
  const verdicts: boolean[] = [];
  const scanner = new FrameScanner((opcode, length, firstByte) => verdicts.push(isStudentFrame(opcode, length, firstByte)));
  scanner.push(Buffer.concat(names.map((n) => clientFrame(OPCODE.binary, message(n)))));
  return verdicts;
}

describe('isStudentFrame', () => {
  it('never counts control frames', () => {
    expect(isStudentFrame(OPCODE.ping, 0, -1)).toBe(false);
    expect(isStudentFrame(OPCODE.pong, 4, 1)).toBe(false);
    expect(isStudentFrame(OPCODE.close, 2, 3)).toBe(false);
  });

  it('does not count what an untouched code-server tab sends', () => {
    expect(classify('keepAlive', 'ack', 'latencyPing', 'controlManifest')).toEqual([false, false, false, false]);
  });

  it('counts typing in the editor and in the terminal', () => {
    expect(classify('modelChanged', 'terminalInput', 'terminalInteraction')).toEqual([true, true, true]);
  });

  it('counts the one-off window-inactive notice (it comes once, ~70 s after the last input)', () => {
    expect(classify('windowInactive')).toEqual([true]);
  });

  it('knows the background calls by size whatever the size of their request id (1-3 bytes)', () => {
    for (const length of [37, 38, 39, 62, 63, 64]) expect(isStudentFrame(OPCODE.binary, length, 1), `${length} bytes`).toBe(false);
    // Other Regular messages of nearby sizes are activity, as are other message types of those sizes.
    for (const length of [36, 40, 51, 53, 61, 65]) expect(isStudentFrame(OPCODE.binary, length, 1), `${length} bytes`).toBe(true);
    expect(isStudentFrame(OPCODE.binary, 38, 2)).toBe(true);
  });

  it("counts a Regular message with an empty body, and other applications' frames", () => {
    expect(isStudentFrame(OPCODE.binary, 13, 1)).toBe(true);
    expect(isStudentFrame(OPCODE.binary, 13, 9)).toBe(false);
    expect(isStudentFrame(OPCODE.binary, 13, 3)).toBe(false);
    expect(isStudentFrame(OPCODE.text, 5, 104)).toBe(true);
    expect(isStudentFrame(OPCODE.text, 38, 1)).toBe(true);
    expect(isStudentFrame(OPCODE.continuation, 10, 1)).toBe(true);
    expect(isStudentFrame(OPCODE.binary, 200, 1)).toBe(true);
  });
});

/** A message as Chromium sends it once told `client_no_context_takeover`: deflated alone, the sync-flush tail removed. */
function deflated(payload: Buffer): Buffer {
  const out = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** A masked client frame with RSV1 set on the first frame of a compressed message. */
function compressedFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const frame = clientFrame(opcode, payload, fin);
  if (opcode !== OPCODE.continuation) frame[0]! |= 0x40;
  return frame;
}

function scan(stream: Buffer, chunk = stream.length) {
  const seen: number[][] = [];
  let invalid = 0;
  const scanner = new FrameScanner((...f) => seen.push(f), { compressed: true, onInvalid: () => invalid++ });
  for (let i = 0; i < stream.length; i += chunk) scanner.push(stream.subarray(i, i + chunk));
  return { seen, invalid };
}

describe('FrameScanner with permessage-deflate', () => {
  const names = Object.keys(measured) as (keyof typeof measured)[];

  it('reports each compressed message with its uncompressed length and first byte, so the idle rule reads it as it reads a plain one', () => {
    const stream = Buffer.concat(names.map((n) => compressedFrame(OPCODE.binary, deflated(message(n)))));
    for (const chunk of [1, 3, 7, 64, stream.length]) {
      const { seen, invalid } = scan(stream, chunk);
      expect(invalid).toBe(0);
      const plain = names.map((n) => message(n));
      // The editor's keystroke deflates to more than INFLATE_LIMIT bytes only if it is large; either way it counts.
      expect(
        seen.map(([op, len, first]) => isStudentFrame(op!, len!, first!)),
        `chunks of ${chunk}`,
      ).toEqual(plain.map((m) => isStudentFrame(OPCODE.binary, m.length, m[0]!)));
      for (const [i, m] of plain.entries()) {
        if (Number.isFinite(seen[i]![1])) expect(seen[i]).toEqual([OPCODE.binary, m.length, m[0]]);
      }
    }
  });

  it('joins the fragments of a compressed message across control frames between them', () => {
    const body = deflated(message('latencyPing'));
    const stream = Buffer.concat([
      compressedFrame(OPCODE.binary, body.subarray(0, 5), false),
      clientFrame(OPCODE.ping, Buffer.from('p')),
      compressedFrame(OPCODE.continuation, body.subarray(5, 9), false),
      compressedFrame(OPCODE.continuation, body.subarray(9)),
      compressedFrame(OPCODE.binary, deflated(message('keepAlive'))),
    ]);
    for (const chunk of [1, 2, 5, stream.length]) {
      expect(scan(stream, chunk).seen, `chunks of ${chunk}`).toEqual([
        [OPCODE.ping, 1, 'p'.charCodeAt(0)],
        [OPCODE.binary, 38, 1],
        [OPCODE.binary, 13, 9],
      ]);
    }
  });

  it('does not inflate a large message and takes it for activity, also one that would inflate far beyond its size', () => {
    const large = deflated(Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i * 7919}\n`).join('')));
    expect(large.length).toBeGreaterThan(INFLATE_LIMIT);
    const bomb = deflated(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeGreaterThan(INFLATE_LIMIT); // 10 MiB of zeros is ~10 kB deflated; a small one:
    const smallBomb = deflated(Buffer.alloc(64 * 1024));
    expect(smallBomb.length).toBeLessThanOrEqual(INFLATE_LIMIT);
    const { seen, invalid } = scan(Buffer.concat([large, bomb, smallBomb].map((b) => compressedFrame(OPCODE.binary, b))));
    expect(invalid).toBe(0);
    expect(seen).toEqual([
      [OPCODE.binary, Infinity, -1],
      [OPCODE.binary, Infinity, -1],
      [OPCODE.binary, Infinity, -1],
    ]);
    expect(seen.every(([op, len, first]) => isStudentFrame(op!, len!, first!))).toBe(true);
  });

  it('reads any message the browser deflated with its full 32 KiB window through its own 512-byte one', () => {
    // Repetition at every distance a short message can hold, and messages on both sides of INFLATE_LIMIT.
    const payload = fc
      .array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constant(new Uint8Array(0))), { maxLength: 30 })
      .chain((parts) =>
        fc
          .array(fc.nat({ max: 29 }), { maxLength: 30 })
          .map((picks) => Buffer.concat([...parts, ...picks.map((i) => parts[i % Math.max(1, parts.length)] ?? new Uint8Array(0))])),
      );
    fc.assert(
      fc.property(payload, (plain) => {
        const { seen, invalid } = scan(compressedFrame(OPCODE.binary, deflated(plain)));
        expect(invalid).toBe(0);
        const [, length, first] = seen[0]!;
        if (Number.isFinite(length)) expect([length, first]).toEqual([plain.length, plain.length > 0 ? plain[0] : -1]);
        else expect(plain.length > INFLATE_LIMIT || deflated(plain).length > INFLATE_LIMIT).toBe(true);
      }),
      { seed: 16, numRuns: 500 },
    );
  });

  it('still reads frames sent uncompressed, and an empty compressed message', () => {
    const stream = Buffer.concat([clientFrame(OPCODE.binary, message('keepAlive')), compressedFrame(OPCODE.text, deflated(Buffer.alloc(0)))]);
    expect(scan(stream).seen).toEqual([
      [OPCODE.binary, 13, 9],
      [OPCODE.text, 0, -1],
    ]);
  });

  it('reports data that does not inflate once and stops reading', () => {
    const garbage = compressedFrame(OPCODE.binary, Buffer.from([0xff, 0xff, 0xff, 0x07, 0x12]));
    const after = compressedFrame(OPCODE.binary, deflated(message('keepAlive')));
    expect(scan(Buffer.concat([garbage, after, garbage]))).toEqual({ seen: [], invalid: 1 });
  });

  it('takes a message that leans on an earlier one (the context takeover the client was told not to use) for invalid data', async () => {
    const deflater = createDeflateRaw();
    const chunks: Buffer[] = [];
    deflater.on('data', (c: Buffer) => chunks.push(c));
    const flushed = (data: Buffer) =>
      new Promise<Buffer>((resolve) => {
        chunks.length = 0;
        deflater.write(data);
        deflater.flush(constants.Z_SYNC_FLUSH, () => {
          const all = Buffer.concat(chunks);
          resolve(all.subarray(0, all.length - 4));
        });
      });
    const text = Buffer.from('the same forty bytes, twice over: abcdefg');
    const first = await flushed(text);
    const second = await flushed(text);
    deflater.close();
    expect(scan(Buffer.concat([compressedFrame(OPCODE.binary, first), compressedFrame(OPCODE.binary, second)]))).toEqual({
      seen: [[OPCODE.binary, text.length, text[0]]],
      invalid: 1,
    });
  });
});
