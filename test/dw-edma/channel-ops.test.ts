/**
 * The per-layout driver ops against the kernel's register and LL facts (reference 13.2, 13.3):
 * the HDMA int_setup read-modify-write, where the function number is programmed, and the link
 * element leaving its reserved dword alone.
 */
import { describe, expect, it, vi } from 'vitest';
import { createChannelOps } from '../../dist/dw-edma/create-channel-ops.js';
import { channelRegisters, type ChannelKind } from '../../dist/device/regs/channel-registers.js';
import { EDMA_V0_CONTROL1 } from '../../dist/device/regs/edma-v0-regs.js';
import { HDMA_V0_BITS } from '../../dist/device/regs/hdma-v0-regs.js';
import { MmioRegisterFile } from '../../dist/device/regs/register-file.js';
import { LL_CONTROL, LL_DATA_BYTES } from '../../dist/device/ll/ll-codec.js';

type Format = 'unroll' | 'hdma-compat' | 'hdma-native';
const LL_BYTES = 0x1000;
const LL_PADDR = 0x2_4000_0000;

function rig(format: Format, kind: ChannelKind, ch: number, remote: boolean, funcNo: number) {
  const file = MmioRegisterFile.create(format, { writeChannels: 8, readChannels: 8 });
  const regs = channelRegisters(format, kind, ch);
  const buffer = new SharedArrayBuffer(LL_BYTES);
  const ops = createChannelOps(file, regs, { buffer, bufferOffset: 0, size: LL_BYTES, paddr: LL_PADDR }, { remote, funcNo });
  return { file, regs, ops, ll: new Uint32Array(buffer) };
}

/** Offsets written by `fn`, in order. */
function writesOf(file: MmioRegisterFile, fn: () => void): number[] {
  const spy = vi.spyOn(file, 'write32');
  try {
    fn();
    return spy.mock.calls.map(([offset]) => offset);
  } finally {
    spy.mockRestore();
  }
}

describe('HDMA native int_setup: read, clear 0x7d, OR remote ? 0x28 : 0x50', () => {
  // [int_setup before start, remote, expected after]
  const cases: [number, boolean, number][] = [
    [0x0000_0000, false, 0x50],
    [0x0000_0000, true, 0x28],
    [0x0000_007d, false, 0x50], // a previous quiesce or routing: the whole field is replaced
    [0x0000_007d, true, 0x28],
    [0x0000_0005, true, 0x28], // quiesce masks cleared
    [0xffff_ffff, false, 0xffff_ff82 | 0x50], // bits 1, 7 and 8..31 are not the driver's: kept
    [0xffff_ffff, true, 0xffff_ff82 | 0x28],
    [0x8000_0102, false, 0x8000_0152],
    [0x8000_0102, true, 0x8000_012a],
  ];
  for (const kind of ['write', 'read'] as const) {
    for (const ch of [0, 7]) {
      it.each(cases)(`${kind} ch${ch}: int_setup %#x, remote %s -> %#x`, (before, remote, after) => {
        const { file, regs, ops } = rig('hdma-native', kind, ch, remote, 3);
        file.write32(regs.intSetup, before);
        ops.start(true);
        expect(file.read32(regs.intSetup) >>> 0).toBe(after >>> 0);
        // a later chunk (first = false) leaves the setup alone
        file.write32(regs.intSetup, before);
        ops.start(false);
        expect(file.read32(regs.intSetup) >>> 0).toBe(before >>> 0);
      });
    }
  }

  it('the remote value enables only the remote STOP/ABORT interrupts, the local one only the local', () => {
    expect(HDMA_V0_BITS.INT_SETUP_REMOTE).toBe(HDMA_V0_BITS.REMOTE_STOP_INT_EN | HDMA_V0_BITS.REMOTE_ABORT_INT_EN);
    expect(HDMA_V0_BITS.INT_SETUP_LOCAL).toBe(HDMA_V0_BITS.LOCAL_STOP_INT_EN | HDMA_V0_BITS.LOCAL_ABORT_INT_EN);
    expect(HDMA_V0_BITS.INT_SETUP_FIELD).toBe(
      HDMA_V0_BITS.STOP_INT_MASK | HDMA_V0_BITS.ABORT_INT_MASK | HDMA_V0_BITS.INT_SETUP_REMOTE | HDMA_V0_BITS.INT_SETUP_LOCAL,
    );
  });
});

describe('HDMA-compat interrupt setup: the eDMA v0 int_mask path (it has no int_setup)', () => {
  // [int_mask before start, remote, expected after] for read channel 3: DONE bit 3, ABORT bit 19
  const bits = (1 << 3) | (1 << 19);
  const cases: [number, boolean, number][] = [
    [0x0000_0000, false, 0],
    [0x0000_0000, true, bits],
    [0x00ff_00ff, false, 0x00ff_00ff & ~bits], // other channels' masks are kept
    [0x00ff_00ff, true, 0x00ff_00ff],
    [0x0001_0001, true, 0x0001_0001 | bits],
  ];
  it.each(cases)('int_mask %#x, remote %s -> %#x', (before, remote, after) => {
    const { file, regs, ops } = rig('hdma-compat', 'read', 3, remote, 0);
    expect(regs.intSetup).toBe(-1);
    file.write32(regs.intMask, before);
    ops.start(true);
    expect(file.read32(regs.intMask) >>> 0).toBe(after >>> 0);
    expect(file.read32(regs.pwrEn)).toBe(1);
  });
});

describe('function number: HDMA at channel configuration, eDMA v0 in ch_control1 at start', () => {
  // [format, remote, funcNo]
  const cases: [Format, boolean, number][] = [
    ['hdma-native', false, 0],
    ['hdma-native', true, 5],
    ['hdma-native', true, 0x1ff], // func_num is [7:0]
    ['hdma-compat', false, 2],
    ['hdma-compat', true, 7],
    ['unroll', false, 1],
    ['unroll', true, 0x3f], // ch_control1 [16:12] holds 5 bits
  ];

  it.each(cases)('%s remote %s func %i', (format, remote, funcNo) => {
    const { file, regs, ops } = rig(format, 'read', 2, remote, funcNo);
    if (format === 'hdma-native') {
      expect(writesOf(file, () => ops.configure())).toEqual([regs.funcNum]);
      expect(file.read32(regs.funcNum)).toBe(funcNo & 0xff);
      // start() programs no function number: a value left in func_num survives both starts
      file.write32(regs.funcNum, 0xa5);
      const first = writesOf(file, () => ops.start(true));
      expect(first).toEqual([regs.enable, regs.intSetup, regs.control1, regs.llpLo, regs.llpHi, regs.cycleSync, regs.doorbell]);
      expect(writesOf(file, () => ops.start(false))).toEqual([regs.cycleSync, regs.doorbell]);
      expect(file.read32(regs.funcNum)).toBe(0xa5);
      expect(file.read32(regs.control1)).toBe(HDMA_V0_BITS.LINKLIST_EN);
    } else {
      // eDMA v0 and HDMA-compat have no func_num register: configuring writes nothing
      expect(writesOf(file, () => ops.configure())).toEqual([]);
      ops.start(true);
      const control1 = file.read32(regs.control1);
      expect(control1).toBe((EDMA_V0_CONTROL1.CCS | EDMA_V0_CONTROL1.LLE | ((funcNo << 12) & (0x1f << 12))) >>> 0);
    }
    expect([file.read32(regs.llpLo), file.read32(regs.llpHi)]).toEqual([LL_PADDR % 2 ** 32, Math.floor(LL_PADDR / 2 ** 32)]);
  });
});

describe('link element in a pre-filled LL region', () => {
  it.each(['unroll', 'hdma-native'] as const)('%s: the dword at link+4 keeps what the region held', (format) => {
    const { ops, ll } = rig(format, 'write', 1, true, 0);
    ll.fill(0xeeee_eeee);
    // chunk 0: three bursts, CB set
    for (let i = 0; i < 3; i++) ops.writeElement(i, true, i === 2, 0x100 * (i + 1), 0x1000 * i, 0x9000_0000 + 0x1000 * i);
    ops.writeLink(3, true);
    const link = (3 * LL_DATA_BYTES) / 4;
    expect(Array.from(ll.subarray(link, link + 4))).toEqual([
      LL_CONTROL.LLP | LL_CONTROL.TCB, // CB inverted: chunk CB was set
      0xeeee_eeee, // never written
      LL_PADDR % 2 ** 32,
      Math.floor(LL_PADDR / 2 ** 32),
    ]);
    expect(ll[link + 4]).toBe(0xeeee_eeee); // nothing past the link either

    // chunk 1 is shorter: its link lands on chunk 0's second data element, whose transfer
    // size is exactly the dword at link+4, and stays there
    ops.writeElement(0, false, true, 0x40, 0x5000, 0x9100_0000);
    ops.writeLink(1, false);
    const link1 = LL_DATA_BYTES / 4;
    expect(Array.from(ll.subarray(link1, link1 + 4))).toEqual([
      LL_CONTROL.LLP | LL_CONTROL.TCB | LL_CONTROL.CB,
      0x200, // chunk 0 element 1's transfer_size
      LL_PADDR % 2 ** 32,
      Math.floor(LL_PADDR / 2 ** 32),
    ]);
  });
});
