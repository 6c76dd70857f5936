import { describe, expect, it } from 'vitest';
import { deflateOffers, pinClientCompression } from '../../src/proxy/websocket-extensions.js';

function answer(...headers: string[]): Buffer {
  return Buffer.from(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', ...headers, '', ''].join('\r\n'), 'latin1');
}

describe('deflateOffers', () => {
  it("keeps the client's permessage-deflate offers, in order, and nothing else", () => {
    expect(deflateOffers('permessage-deflate; client_max_window_bits')).toBe('permessage-deflate; client_max_window_bits');
    expect(deflateOffers('x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10 , Permessage-Deflate')).toBe(
      'permessage-deflate; server_max_window_bits=10, Permessage-Deflate',
    );
    expect(deflateOffers('x-webkit-deflate-frame')).toBeUndefined();
    expect(deflateOffers('')).toBeUndefined();
  });
});

describe('pinClientCompression', () => {
  it('tells the client to compress each message on its own, keeping what the workspace answered', () => {
    const { answer: out, compression } = pinClientCompression(answer('Sec-WebSocket-Accept: abc=', 'Sec-WebSocket-Extensions: permessage-deflate'));
    expect(compression).toBe('per-message');
    expect(out.toString('latin1')).toBe(
      answer('Sec-WebSocket-Accept: abc=', 'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover').toString('latin1'),
    );
    const withParams = pinClientCompression(answer('sec-websocket-extensions: permessage-deflate; server_max_window_bits=12')).answer.toString('latin1');
    expect(withParams).toContain('Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_no_context_takeover\r\n');
  });

  it('changes nothing when there is no compression or the workspace already said so, and keeps the bytes after the head', () => {
    const frames = Buffer.from([0x82, 0x02, 0xff, 0x00]);
    for (const head of [answer('Sec-WebSocket-Accept: x'), answer('Sec-WebSocket-Extensions: permessage-deflate; Client_No_Context_Takeover')]) {
      const whole = Buffer.concat([head, frames]);
      expect(pinClientCompression(whole).answer).toBe(whole);
    }
    expect(pinClientCompression(answer('Sec-WebSocket-Accept: x')).compression).toBe('none');
    const pinned = pinClientCompression(Buffer.concat([answer('Sec-WebSocket-Extensions: permessage-deflate', 'X-Name: caf\u00e9'), frames])).answer;
    expect(pinned.subarray(pinned.length - frames.length)).toEqual(frames);
    expect(pinned.toString('latin1')).toContain('X-Name: caf\u00e9\r\n');
  });

  it('calls frames unreadable when the workspace answered an extension the gateway did not offer', () => {
    expect(pinClientCompression(answer('Sec-WebSocket-Extensions: x-webkit-deflate-frame')).compression).toBe('unreadable');
    expect(pinClientCompression(answer('Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate')).compression).toBe('unreadable');
    expect(pinClientCompression(answer('Sec-WebSocket-Extensions: permessage-deflate', 'Sec-WebSocket-Extensions: foo')).compression).toBe('unreadable');
  });
});
