/**
 * The control block shared by a channel's handle and its worker: every field on bytes of its
 * own. An earlier layout put the in-flight byte count (a float64) over the terminate word, so
 * a transfer count of 2097153 read as "terminate pending" and setting the flag turned a
 * residue of 6 into 5.999999999992724.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_BUSY, CHANNEL_IDLE, ChannelControlBlock, CONTROL_BLOCK_BYTES, REQUEST_PAUSE, REQUEST_STOP, STATE_HALTED, STATE_RUNNING,
  stateRequest, stateStatus, TERMINATE_ALL, TERMINATE_FREE, TERMINATE_NONE,
} from '../../dist/protocol/channel-control-block.js';

interface Model {
  state: number;
  cookie: number;
  residue: number;
  chunksLeft: boolean;
  controlSeq: number;
  generation: number;
  exit: boolean;
  terminate: number;
}

type Op =
  | { kind: 'state'; value: number }
  | { kind: 'current'; cookie: number; residue: number; chunksLeft: boolean }
  | { kind: 'progress'; residue: number; chunksLeft: boolean }
  | { kind: 'clear' }
  | { kind: 'control' }
  | { kind: 'generation'; value: number }
  | { kind: 'exit' }
  | { kind: 'terminate'; value: number };

const residue = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 4096 }), fc.constantFrom(0, 6, 2097153, 2 ** 53 - 1), fc.double({ min: 0, max: 1e15, noNaN: true }));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.integer({ min: 0, max: 63 }).map((value) => ({ kind: 'state' as const, value })),
  fc.record({ cookie: fc.integer({ min: 1, max: 0x7fff_ffff }), residue, chunksLeft: fc.boolean() }).map((r) => ({ kind: 'current' as const, ...r })),
  fc.record({ residue, chunksLeft: fc.boolean() }).map((r) => ({ kind: 'progress' as const, ...r })),
  fc.constant({ kind: 'clear' as const }),
  fc.constant({ kind: 'control' as const }),
  fc.integer({ min: 0, max: 1000 }).map((value) => ({ kind: 'generation' as const, value })),
  fc.constant({ kind: 'exit' as const }),
  fc.constantFrom(TERMINATE_NONE, TERMINATE_ALL, TERMINATE_FREE).map((value) => ({ kind: 'terminate' as const, value })),
);

function apply(cb: ChannelControlBlock, m: Model, o: Op): void {
  switch (o.kind) {
    case 'state':
      cb.setState(o.value);
      m.state = o.value;
      break;
    case 'current':
      cb.setCurrent(o.cookie, o.residue, o.chunksLeft);
      Object.assign(m, { cookie: o.cookie, residue: o.residue, chunksLeft: o.chunksLeft });
      break;
    case 'progress':
      cb.setProgress(o.residue, o.chunksLeft);
      Object.assign(m, { residue: o.residue, chunksLeft: o.chunksLeft });
      break;
    case 'clear':
      cb.clearCurrent();
      Object.assign(m, { cookie: 0, chunksLeft: false });
      break;
    case 'control':
      cb.bumpControl();
      m.controlSeq++;
      break;
    case 'generation':
      cb.setGeneration(o.value);
      m.generation = o.value;
      break;
    case 'exit':
      cb.requestExit();
      m.exit = true;
      break;
    case 'terminate':
      cb.setTerminatePending(o.value);
      m.terminate = o.value;
      break;
  }
}

function check(cb: ChannelControlBlock, m: Model): void {
  expect(cb.state()).toBe(m.state);
  expect(cb.currentCookie()).toBe(m.cookie);
  if (m.cookie !== 0) expect(cb.currentResidue(m.cookie)).toBe(m.residue);
  expect(cb.currentHasChunksLeft()).toBe(m.chunksLeft);
  expect(cb.controlSeq()).toBe(m.controlSeq);
  expect(cb.generation()).toBe(m.generation);
  expect(cb.exitRequested()).toBe(m.exit);
  expect(cb.terminatePending()).toBe(m.terminate);
}

describe('ChannelControlBlock', () => {
  it('fields are independent: any sequence of writes leaves every other field as it was (property)', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const cb = ChannelControlBlock.create();
      const m: Model = { state: 0, cookie: 0, residue: 0, chunksLeft: false, controlSeq: 0, generation: 0, exit: false, terminate: 0 };
      check(cb, m);
      for (const o of ops) {
        apply(cb, m, o);
        check(cb, m);
      }
    }), { numRuns: 500 });
  });

  it('the regression: a count of 2097153 is not a pending terminate, and a pending terminate does not touch the residue', () => {
    const cb = ChannelControlBlock.create();
    cb.setCurrent(1, 12, true);
    cb.setProgress(2097153, true);
    expect(cb.terminatePending()).toBe(TERMINATE_NONE);
    cb.setProgress(6, true);
    cb.setTerminatePending(TERMINATE_ALL);
    expect(cb.currentResidue(1)).toBe(6);
    expect(Number.isInteger(cb.currentResidue(1))).toBe(true);
  });

  it('a reader of another cookie gets -1, never the in-flight residue; the block is the documented size', () => {
    const cb = ChannelControlBlock.create();
    expect(cb.buffer.byteLength).toBe(CONTROL_BLOCK_BYTES);
    cb.setCurrent(7, 100, true);
    expect(cb.currentResidue(7)).toBe(100);
    expect(cb.currentResidue(8)).toBe(-1);
    cb.clearCurrent();
    expect(cb.currentResidue(7)).toBe(-1);
  });

  it('the STATE word packs status, request, RUNNING and HALTED; compareAndSwapState fails on a stale value', () => {
    const cb = ChannelControlBlock.create();
    const busy = CHANNEL_BUSY | STATE_RUNNING | REQUEST_PAUSE;
    expect(cb.compareAndSwapState(CHANNEL_IDLE, busy)).toBe(true);
    expect(stateStatus(cb.state())).toBe(CHANNEL_BUSY);
    expect(stateRequest(cb.state())).toBe(REQUEST_PAUSE);
    expect(cb.compareAndSwapState(CHANNEL_IDLE, CHANNEL_IDLE | STATE_HALTED)).toBe(false);
    expect(cb.state()).toBe(busy);
    expect(cb.compareAndSwapState(busy, (busy & ~REQUEST_PAUSE) | REQUEST_STOP)).toBe(true);
    expect(stateRequest(cb.state())).toBe(REQUEST_STOP);
    expect(cb.status()).toBe(CHANNEL_BUSY);
  });
});
