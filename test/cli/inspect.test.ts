import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../dist/cli/command.js';
import { runInspect } from '../../dist/cli/inspect.js';
import { EpdmaError } from '../../dist/device/errors.js';
import { encodeMetadata } from '../../dist/device/metadata/metadata-encoder.js';
import type { MetadataLayout } from '../../dist/device/metadata/metadata-layout.js';
import { runCli } from '../support/run-cli.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'epdma-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sample(overrides: Partial<MetadataLayout> = {}): MetadataLayout {
  return {
    revision: 1,
    length: 0xcc,
    regBar: 0,
    regOffset: 0x1000n,
    regSize: 0x2000,
    layout: 'dw-edma',
    mapFormat: 'hdma-compat',
    hostRequest: true,
    ready: false,
    entrySize: 0x2c,
    write: [
      { hwChannel: 0, desc: { bar: 2, offset: 0x3000n, size: 0x800, addr: 0x1_2345_0000n } },
      {
        hwChannel: 1,
        desc: { bar: 2, offset: 0x3800n, size: 0x800, addr: 0x1_2345_0800n },
        aux: { bar: 3, offset: 0x40n, size: 0x100, addr: 0xabc0_0000n },
      },
    ],
    read: [
      { hwChannel: 0, desc: { bar: 2, offset: 0x4000n, size: 0x800, addr: 0xfe00_0000n } },
      { hwChannel: 1, desc: { bar: 2, offset: 0x4800n, size: 0x800, addr: 0xfe00_0800n } },
    ],
    headerLayout: 'v4',
    ...overrides,
  };
}

/** A BAR image: the blob at offset 0, zero padding up to the BAR size. */
async function barFile(name: string, blob: Uint8Array, barSize = 0x1000): Promise<string> {
  const image = new Uint8Array(Math.max(barSize, blob.byteLength));
  image.set(blob);
  const file = join(dir, name);
  await writeFile(file, image);
  return file;
}

/**
 * runInspect in-process; a thrown error becomes what the dispatcher prints (one line) and its
 * exit code: 2 for a UsageError, 1 for an EpdmaError.
 */
async function run(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  try {
    const code = await runInspect(args, (line) => lines.push(line));
    return { code, lines };
  } catch (err) {
    if (err instanceof UsageError) return { code: 2, lines: [`epdma inspect: ${err.message.slice('EINVAL: '.length)}`] };
    if (err instanceof EpdmaError) return { code: 1, lines: [`epdma inspect: ${err.message}`] };
    throw err;
  }
}

describe('epdma inspect', () => {
  it('prints header, handshake bits and one row per channel', async () => {
    // the descriptors live in the metadata BAR itself, up to 0x5000
    const file = await barFile('bar2.bin', encodeMetadata(sample()), 0x8000);
    const { code, lines } = await run([file, '--bar', '2']);
    expect(code).toBe(0);
    const text = lines.join('\n');
    expect(lines[0]).toBe(`${file} (BAR2, 0x8000 bytes)`);
    expect(text).toContain('magic         0x4d444550 (PEDM)');
    expect(text).toContain('revision      1');
    expect(text).toContain('length        0xcc (204 bytes)');
    expect(text).toContain('header layout v4 (header 0x1c bytes)');
    expect(text).toContain('registers     BAR0 offset 0x1000 size 0x2000');
    expect(text).toContain('map format hdma-compat (0x5)');
    expect(text).toContain('entry size    0x2c');
    expect(text).toContain('H host request 1');
    expect(text).toContain('R ready        0');
    expect(text).toContain('channels: 2 write, 2 read');
    const rows = lines.filter((l) => /^\s+(wr|rd)\s/.test(l)).map((l) => l.trim().split(/\s+/));
    expect(rows.length).toBe(4);
    expect(rows[0]).toEqual(['wr', '0', '2', '0x3000', '0x800', '0x123450000', '-']);
    expect(rows[1]!.slice(0, 6)).toEqual(['wr', '1', '2', '0x3800', '0x800', '0x123450800']);
    expect(rows[1]!.slice(6).join(' ')).toBe('BAR3 offset 0x40 size 0x100 addr 0xabc00000');
    expect(rows[2]).toEqual(['rd', '0', '2', '0x4000', '0x800', '0xfe000000', '-']);
    expect(rows[3]).toEqual(['rd', '1', '2', '0x4800', '0x800', '0xfe000800', '-']);
  });

  it('--json prints the MetadataLayout, 64-bit fields as exact decimal strings', async () => {
    const layout = sample();
    const file = await barFile('json.bin', encodeMetadata(layout));
    const { code, lines } = await run(['--json', file]);
    expect(code).toBe(0);
    const json = JSON.parse(lines.join('\n')) as Record<string, unknown>;
    expect(json.regOffset).toBe('4096');
    expect(json).toEqual(JSON.parse(JSON.stringify(layout, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))));
    // reading the strings back as bigints gives the layout itself
    const revived = JSON.parse(lines.join('\n'), (key, v: unknown) =>
      ['regOffset', 'offset', 'addr'].includes(key) && typeof v === 'string' ? BigInt(v) : v,
    ) as MetadataLayout;
    expect(revived).toEqual(layout);
  });

  it('--help documents how --json prints the 64-bit fields', async () => {
    const { code, lines } = await run(['--help']);
    expect(code).toBe(0);
    expect(lines.join('\n')).toContain('exact decimal strings');
  });

  it('--layout host-ctrl decodes the later header layout', async () => {
    const layout = sample({ headerLayout: 'host-ctrl', length: 0xd0, hostRequest: false, ready: true });
    const file = await barFile('hostctrl.bin', encodeMetadata(layout));
    const { code, lines } = await run([file, '--layout=host-ctrl']);
    expect(code).toBe(0);
    expect(lines).toContain('  header layout host-ctrl (header 0x20 bytes)');
    expect(lines).toContain('  H host request 0');
    expect(lines).toContain('  R ready        1');
    // the same file read with the v4 header layout is not valid metadata
    const v4 = await run([file]);
    expect(v4.code).toBe(1);
    expect(v4.lines[0]).toMatch(/^epdma inspect: (EINVAL|EOPNOTSUPP): metadata: /);
  });

  it('garbage prints the kernel error kind and exits 1', async () => {
    const garbage = new Uint8Array(0x100).map((_, i) => (i * 37 + 11) & 0xff);
    const file = await barFile('garbage.bin', garbage, 0x100);
    const { code, lines } = await run([file, '--bar', '1']);
    expect(code).toBe(1);
    expect(lines).toEqual([`epdma inspect: ENODEV: BAR1 metadata: magic 0x${new DataView(garbage.buffer).getUint32(0, true).toString(16)} is not 0x4d444550: not this BAR`]);
  });

  it('a bad field names it with its value', async () => {
    const blob = encodeMetadata(sample());
    new DataView(blob.buffer).setUint32(4, 0x00cc0003, true);
    const file = await barFile('rev3.bin', blob);
    const { code, lines } = await run([file, '--bar', '2']);
    expect(code).toBe(1);
    expect(lines).toEqual(['epdma inspect: EINVAL: BAR2 metadata: revision 0x3 is not 0x1']);
  });

  it('reads only the first 64 KiB but checks windows against the whole file as the BAR', async () => {
    // descriptors of write channel 0 sit in the metadata BAR itself, past 64 KiB
    const inside = sample();
    inside.write[0]!.desc = { bar: 2, offset: 0x1f000n, size: 0x1000, addr: 0x8000n };
    const big = await barFile('big.bin', encodeMetadata(inside), 0x20000);
    expect((await run([big, '--bar', '2'])).code).toBe(0);
    const outside = sample();
    outside.write[0]!.desc = { bar: 2, offset: 0x1f800n, size: 0x1000, addr: 0x8000n };
    const over = await barFile('over.bin', encodeMetadata(outside), 0x20000);
    const { code, lines } = await run([over, '--bar', '2']);
    expect(code).toBe(1);
    expect(lines[0]).toBe(
      'epdma inspect: EINVAL: BAR2 metadata: write entry 0 desc window 0x1f800+0x1000 outside BAR2 size 0x20000',
    );
    // without --bar the BAR index (and so its size) is unknown: no in-BAR check
    expect((await run([over])).code).toBe(0);
  });

  it('a missing file exits 2 with a clear message', async () => {
    const missing = join(dir, 'does-not-exist.bin');
    const { code, lines } = await run([missing]);
    expect(code).toBe(2);
    expect(lines).toEqual([`epdma inspect: cannot read ${missing}: no such file`]);
  });

  it('usage errors exit 2', async () => {
    for (const args of [[], ['a', 'b'], ['f', '--bar', '6'], ['f', '--bar'], ['f', '--layout', 'v5'], ['f', '--frob']]) {
      const { code, lines } = await run(args);
      expect(code).toBe(2);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^epdma inspect: (missing FILE|unexpected argument "b"|--bar|option --bar needs a value|--layout|unknown option --frob)/);
    }
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.lines[0]).toMatch(/^usage: epdma inspect FILE\|DIR/);
  });

  describe('a descriptor address at 2^53 (kernel: accepted, read exactly)', () => {
    // BAR0 0x1000 bytes of metadata: registers BAR2 offset 0 size 0x2000 (hdma-native), one write
    // channel whose descriptors are BAR4 offset 0 size 0x1000 at EP address 2^53.
    const BLOB_HEX =
      '5045444d010048000a006001000000000000000001070000002000000004000000000000000000000010000000000000000020000000000000000000000000000000000000000000';

    it('epdma inspect --json prints paddr 9007199254740992 exactly; the text shows it in hex', async () => {
      const file = await barFile('paddr-2p53.bin', Uint8Array.from(Buffer.from(BLOB_HEX, 'hex')), 0x1000);
      const json = await runCli(['inspect', file, '--bar', '0', '--json']);
      expect(json.stderr).toBe('');
      expect(json.code).toBe(0);
      const layout = JSON.parse(json.stdout) as { regBar: number; regOffset: string; regSize: number; mapFormat: string; write: { desc: Record<string, unknown> }[]; read: unknown[] };
      expect(layout.write).toHaveLength(1);
      expect(layout.read).toEqual([]);
      expect(layout.write[0]!.desc).toEqual({ bar: 4, offset: '0', size: 0x1000, addr: '9007199254740992' });
      expect([layout.regBar, layout.regOffset, layout.regSize, layout.mapFormat]).toEqual([2, '0', 0x2000, 'hdma-native']);
      // a double would have printed 9007199254740992 too, so also prove the neighbour stays exact
      const plusOne = Buffer.from(BLOB_HEX, 'hex');
      plusOne.writeUInt32LE(1, 0x1c + 0x10);
      const nextFile = await barFile('paddr-2p53-plus-1.bin', Uint8Array.from(plusOne), 0x1000);
      const next = await run([nextFile, '--bar', '0', '--json']);
      expect(next.code).toBe(0);
      expect((JSON.parse(next.lines.join('\n')) as typeof layout).write[0]!.desc.addr).toBe('9007199254740993');

      const text = await run([file, '--bar', '0']);
      expect(text.code).toBe(0);
      const row = text.lines.find((l) => /^\s+wr\s/.test(l))!.trim().split(/\s+/);
      expect(row).toEqual(['wr', '0', '4', '0x0', '0x1000', '0x20000000000000', '-']);
    });
  });
});
