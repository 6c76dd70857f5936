import { describe, expect, it } from 'vitest';
import { FrameScanner, OPCODE } from '../../src/proxy/frame-scanner.js';
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

describe('isStudentFrame', () => {
  it('counts data frames, not control frames or VS Code keep-alives', () => {
    expect(isStudentFrame(OPCODE.text, 5, 104)).toBe(true);
    expect(isStudentFrame(OPCODE.binary, 200, 1)).toBe(true);
    expect(isStudentFrame(OPCODE.continuation, 10, 1)).toBe(true);
    expect(isStudentFrame(OPCODE.ping, 0, -1)).toBe(false);
    expect(isStudentFrame(OPCODE.pong, 4, 1)).toBe(false);
    expect(isStudentFrame(OPCODE.close, 2, 3)).toBe(false);
    expect(isStudentFrame(OPCODE.binary, 13, 9)).toBe(false); // KeepAlive
    expect(isStudentFrame(OPCODE.binary, 13, 3)).toBe(false); // Ack
    expect(isStudentFrame(OPCODE.binary, 13, 1)).toBe(true); // a Regular message with an empty body is still a message
  });
});
