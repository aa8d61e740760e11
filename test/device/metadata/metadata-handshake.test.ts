import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { EpdmaError } from '../../../dist/device/errors.js';
import { encodeMetadata } from '../../../dist/device/metadata/metadata-encoder.js';
import {
  clearHandshake,
  clearHostRequest,
  clearReady,
  readHostRequest,
  readReady,
  setHostRequest,
  setReady,
} from '../../../dist/device/metadata/metadata-handshake.js';
import type { MetadataLayout } from '../../../dist/device/metadata/metadata-layout.js';
import { parseMetadata } from '../../../dist/device/metadata/metadata-parser.js';

type HeaderLayout = 'v4' | 'host-ctrl';

function layout(headerLayout: HeaderLayout): MetadataLayout {
  const hdr = headerLayout === 'host-ctrl' ? 0x20 : 0x1c;
  return {
    revision: 1,
    length: hdr + 3 * 0x2c,
    regBar: 4,
    regOffset: 0x1000n,
    regSize: 0x2000,
    layout: 'dw-edma',
    mapFormat: 'hdma-native',
    hostRequest: false,
    ready: false,
    entrySize: 0x2c,
    write: [0, 1].map((i) => ({ hwChannel: i, desc: { bar: 2, offset: BigInt(i * 0x800), size: 0x800, addr: 0x9000_0000n } })),
    read: [{ hwChannel: 0, desc: { bar: 2, offset: 0x1000n, size: 0x800, addr: 0x9000_1000n } }],
    headerLayout,
  };
}

/** The metadata BAR as both sides see it: one SharedArrayBuffer, a byte view and a dword view. */
function sharedBar(headerLayout: HeaderLayout): { bytes: Uint8Array; words: Uint32Array } {
  const sab = new SharedArrayBuffer(0x1000);
  const bytes = new Uint8Array(sab);
  bytes.set(encodeMetadata(layout(headerLayout)));
  return { bytes, words: new Uint32Array(sab) };
}

const CTRL = 2;
const HOST_CTRL = 7;
const CTRL_FIELDS = 0x01600814; // entry 0x2c, rd 1, wr 2, reg BAR 4

describe('v4 handshake: H and R share CTRL', () => {
  it('setHostRequest ORs bit 30 into CTRL and keeps every other bit', () => {
    const { words } = sharedBar('v4');
    expect(words[CTRL]).toBe(CTRL_FIELDS);
    words[CTRL] = (words[CTRL]! | 0x38000000 | 0x80000000) >>> 0; // reserved bits and R already set
    expect(readHostRequest(words)).toBe(false);
    setHostRequest(words);
    expect(words[CTRL]).toBe((CTRL_FIELDS | 0x38000000 | 0xc0000000) >>> 0);
    expect(readHostRequest(words, 'v4')).toBe(true);
    expect(readReady(words)).toBe(true);
    expect(words[HOST_CTRL]).toBe(0x200); // the write table's first CH_CTRL word, untouched
  });

  it('R set and cleared by the EP leave H and the fields alone; link-down keeps H', () => {
    const { bytes, words } = sharedBar('v4');
    setHostRequest(words);
    setReady(words);
    expect(words[CTRL]).toBe((CTRL_FIELDS | 0xc0000000) >>> 0);
    expect(parseMetadata(bytes)).toMatchObject({ hostRequest: true, ready: true, regBar: 4 });
    clearReady(words);
    expect(words[CTRL]).toBe((CTRL_FIELDS | 0x40000000) >>> 0);
    expect([readHostRequest(words), readReady(words)]).toEqual([true, false]);
    clearHostRequest(words);
    expect(words[CTRL]).toBe(CTRL_FIELDS);
  });

  it('clearHandshake (epc_init) clears exactly H and R', () => {
    const { bytes, words } = sharedBar('v4');
    words[CTRL] = (CTRL_FIELDS | 0xf8000000) >>> 0;
    clearHandshake(words);
    expect(words[CTRL]).toBe((CTRL_FIELDS | 0x38000000) >>> 0);
    expect(parseMetadata(bytes)).toEqual(layout('v4'));
  });

  it('works on a view that starts at the BAR inside a larger shared buffer', () => {
    const sab = new SharedArrayBuffer(0x2000);
    new Uint8Array(sab, 0x1000).set(encodeMetadata(layout('v4')));
    const words = new Uint32Array(sab, 0x1000, 0x100);
    setReady(words);
    expect(new Uint32Array(sab)[0x400 + CTRL]).toBe((CTRL_FIELDS | 0x80000000) >>> 0);
  });
});

describe('host-ctrl handshake: H in its own dword', () => {
  it('setHostRequest stores REQ in HOST_CTRL and never touches CTRL', () => {
    const { bytes, words } = sharedBar('host-ctrl');
    words[CTRL] = (CTRL_FIELDS | 0x80000000) >>> 0;
    setHostRequest(words, 'host-ctrl');
    expect(words[HOST_CTRL]).toBe(1);
    expect(words[CTRL]).toBe((CTRL_FIELDS | 0x80000000) >>> 0);
    expect(readHostRequest(words, 'host-ctrl')).toBe(true);
    expect(readHostRequest(words, 'v4')).toBe(false); // bit 30 is not H here
    expect(parseMetadata(bytes, { headerLayout: 'host-ctrl' })).toMatchObject({ hostRequest: true, ready: true });
    clearHostRequest(words, 'host-ctrl');
    expect(words[HOST_CTRL]).toBe(0);
  });

  it('ignores CTRL bit 30 (reserved) when reading H', () => {
    const { words } = sharedBar('host-ctrl');
    words[CTRL] = (CTRL_FIELDS | 0x40000000) >>> 0;
    expect(readHostRequest(words, 'host-ctrl')).toBe(false);
  });

  it('clearHandshake zeroes the whole HOST_CTRL dword and clears R only in CTRL', () => {
    const { words } = sharedBar('host-ctrl');
    words[HOST_CTRL] = 0xffffffff;
    words[CTRL] = (CTRL_FIELDS | 0xf8000000) >>> 0;
    clearHandshake(words, 'host-ctrl');
    expect(words[HOST_CTRL]).toBe(0);
    expect(words[CTRL]).toBe((CTRL_FIELDS | 0x78000000) >>> 0);
    expect(readReady(words, 'host-ctrl')).toBe(false);
    setReady(words, 'host-ctrl');
    expect(readReady(words, 'host-ctrl')).toBe(true);
    expect(words[HOST_CTRL]).toBe(0);
  });
});

describe('handshake argument checks', () => {
  it('refuses views shorter than the header and non-Uint32Array views', () => {
    expect(() => setHostRequest(new Uint32Array(6))).toThrow(EpdmaError);
    expect(() => readReady(new Uint32Array(7), 'host-ctrl')).toThrow(/below header length 0x20/);
    expect(readReady(new Uint32Array(7))).toBe(false);
    expect(() => readReady(new Int32Array(16) as never)).toThrow(/Uint32Array/);
    expect(() => readReady(new Uint32Array(16), 'v5' as never)).toThrow(/header layout v5/);
  });
});

describe('handshake across threads', () => {
  it('an EP worker sees the host request and publishes READY in the same shared BAR', async () => {
    const { bytes, words } = sharedBar('v4');
    clearHandshake(words);
    setHostRequest(words);
    const moduleUrl = new URL('../../../dist/device/metadata/metadata-handshake.js', import.meta.url).href;
    // The EP side, as its delayed work would do it: see H, then set R.
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.moduleUrl).then((hs) => {
         const words = new Uint32Array(workerData.sab);
         const sawRequest = hs.readHostRequest(words, 'v4');
         if (sawRequest) hs.setReady(words, 'v4');
         parentPort.postMessage(sawRequest);
       });`,
      { eval: true, workerData: { sab: words.buffer, moduleUrl } },
    );
    try {
      const sawRequest = await new Promise<boolean>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(sawRequest).toBe(true);
      expect(readReady(words)).toBe(true);
      expect(parseMetadata(bytes)).toMatchObject({ hostRequest: true, ready: true });
    } finally {
      await worker.terminate();
    }
  });
});
