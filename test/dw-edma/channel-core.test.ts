/**
 * The generic channel state machine (dw-edma-core.c with virt-dma, reference 6.5 and 13.5),
 * sequence by sequence in the issue's notation, in both modes: the real handle and core over
 * a scripted hardware (test/support/scripted-channel.ts), ll_max 2, segments of 3 bytes.
 *
 * Each row: what the client sees afterwards, per mode: callbacks (completions$ emissions,
 * 'cookie:result:residue[:reason]'), settled `done`s, txStatus of every cookie, chunk starts
 * (F = first chunk of a descriptor, programs the channel; N = next chunk, doorbell only) and
 * refused steps ('index:op:code').
 */
import { describe, expect, it } from 'vitest';
import { brief, FAULT_ADDR, ScriptedChannel } from '../support/scripted-channel.js';

interface Seen {
  readonly callbacks?: string[];
  readonly settled?: string[];
  readonly statuses: string[];
  readonly starts: string;
  readonly errors?: string[];
}

interface Row {
  readonly sequence: string;
  readonly why: string;
  readonly contract: Seen;
  readonly 'dw-edma': Seen;
}

const FAULT = `engine abort: destination address not mapped at 0x${FAULT_ADDR.toString(16)}`;
const both = (seen: Seen): { contract: Seen; 'dw-edma': Seen } => ({ contract: seen, 'dw-edma': seen });

const ROWS: Row[] = [
  {
    sequence: 'G P(4) I T',
    why: 'a: the STOP is pending, the first chunk (6 of 12 bytes) started: residue exactly 6',
    ...both({ statuses: ['1:in-progress:6'], starts: 'F', callbacks: [] }),
  },
  {
    sequence: 'G P(4) I T D P',
    why: "e: a STOP's descriptor completes NOERROR residue 0 in dw-edma (and the channel stays configured); terminated without callback in the contract (and unconfigured)",
    contract: { callbacks: [], settled: ['1:aborted:6:terminated'], statuses: ['1:error:6'], starts: 'F', errors: ['5:P:EINVAL'] },
    'dw-edma': { callbacks: ['1:ok:0'], settled: ['1:ok:0'], statuses: ['1:complete:0', '2:in-progress:0'], starts: 'F', errors: [] },
  },
  {
    sequence: 'G P(4) IZ D',
    why: 'b: pause right after issuePending is accepted and takes effect at the chunk boundary',
    ...both({ statuses: ['1:paused:6'], starts: 'F', errors: [], callbacks: [] }),
  },
  {
    sequence: 'G P(4) IZ D R D',
    why: 'b: resume starts the next chunk and the descriptor completes',
    ...both({ statuses: ['1:complete:0'], starts: 'FN', errors: [], callbacks: ['1:ok:0'] }),
  },
  {
    sequence: 'G P I T P',
    why: 'c: the channel stays configured until the STOP takes effect: the second prep is accepted',
    contract: { statuses: ['1:in-progress:0', '2:in-progress:3'], starts: 'F', errors: [] },
    'dw-edma': { statuses: ['1:in-progress:0', '2:in-progress:0'], starts: 'F', errors: [] },
  },
  {
    sequence: 'G P(4) P(2) I Z D',
    why: 'd: every in-progress cookie of a paused channel is paused, the queued one too',
    ...both({ statuses: ['1:paused:6', '2:paused:6'], starts: 'F', errors: [] }),
  },
  {
    sequence: 'G P(1) I Z D R P I D',
    why: 'e: a pause on the last chunk: dw-edma stays BUSY with nothing running (the descriptor never completes, the queue never starts); the contract completes it on resume',
    contract: { callbacks: ['1:ok:0', '2:ok:0'], statuses: ['1:complete:0', '2:complete:0'], starts: 'FF', errors: [] },
    'dw-edma': { callbacks: [], settled: [], statuses: ['1:in-progress:0', '2:in-progress:3'], starts: 'F', errors: [] },
  },
  {
    sequence: 'G P(2) T G I D',
    why: 'e: dw-edma terminate_all frees nothing: the old descriptor runs after a new slave config; the contract terminated it',
    contract: { callbacks: [], settled: ['1:aborted:6:terminated'], statuses: ['1:error:6'], starts: '' },
    'dw-edma': { callbacks: ['1:ok:0'], statuses: ['1:complete:0'], starts: 'F' },
  },
  {
    sequence: 'G P(4) I Z D T G I D',
    why: 'e: dw-edma: a paused descriptor survives terminate and resumes with a next-chunk start',
    contract: { callbacks: [], settled: ['1:aborted:6:terminated'], statuses: ['1:error:6'], starts: 'F' },
    'dw-edma': { callbacks: ['1:ok:0'], statuses: ['1:complete:0'], starts: 'FN' },
  },
  {
    sequence: 'G P(4) I T P I D',
    why: 'e: dw-edma ignores issue_pending while a STOP is pending (cookie 2 waits, issued); the contract runs work submitted after the terminate once it finished',
    contract: { callbacks: [], settled: ['1:aborted:6:terminated'], statuses: ['1:error:6', '2:in-progress:0'], starts: 'FF', errors: [] },
    'dw-edma': { callbacks: ['1:ok:0'], statuses: ['1:complete:0', '2:in-progress:3'], starts: 'F', errors: [] },
  },
  {
    sequence: 'G P(4) I T P I D I D',
    why: 'e: the next issuePending starts the waiting descriptor (dw-edma)',
    contract: { callbacks: ['2:ok:0'], statuses: ['1:error:6', '2:complete:0'], starts: 'FF', errors: [] },
    'dw-edma': { callbacks: ['1:ok:0', '2:ok:0'], statuses: ['1:complete:0', '2:complete:0'], starts: 'FF', errors: [] },
  },
  {
    sequence: 'G P(2)',
    why: 'e: tx_status of a submitted, not issued descriptor: dw-edma searches only the issued list (residue 0)',
    contract: { statuses: ['1:in-progress:6'], starts: '' },
    'dw-edma': { statuses: ['1:in-progress:0'], starts: '' },
  },
  {
    sequence: 'G P(2) P(2) I A',
    why: "e/g: after an ABORT dw-edma says complete with residue 0 and only ABORTED; the contract says error and names the side that faulted. The queue waits for the next issuePending",
    contract: { callbacks: [`1:write-failed:0:${FAULT}`], statuses: ['1:error:0', '2:in-progress:6'], starts: 'F' },
    'dw-edma': { callbacks: [`1:aborted:0:${FAULT}`], statuses: ['1:complete:0', '2:in-progress:6'], starts: 'F' },
  },
  {
    sequence: 'G P(2) P(2) I A I D',
    why: 'after an ABORT, issuePending restarts the issued queue',
    contract: { callbacks: [`1:write-failed:0:${FAULT}`, '2:ok:0'], statuses: ['1:error:0', '2:complete:0'], starts: 'FF' },
    'dw-edma': { callbacks: [`1:aborted:0:${FAULT}`, '2:ok:0'], statuses: ['1:complete:0', '2:complete:0'], starts: 'FF' },
  },
  {
    sequence: 'G P[2147483648,2147483648,4096] I D',
    why: 'e: u32 alloc_sz/xfer_sz: after a 4 GiB chunk xfer_sz wraps to 0, so dw-edma starts the second chunk as a first one',
    contract: { statuses: ['1:in-progress:0'], starts: 'FN' },
    'dw-edma': { statuses: ['1:in-progress:0'], starts: 'FF' },
  },
  {
    sequence: 'G P(4) I T Z R',
    why: 'pause and resume with a STOP pending: EPERM',
    ...both({ statuses: ['1:in-progress:6'], starts: 'F', errors: ['4:Z:EPERM', '5:R:EPERM'] }),
  },
  {
    sequence: 'Z G Z R P I R',
    why: 'pause unconfigured, pause idle, resume idle, resume busy: EPERM',
    ...both({ statuses: ['1:in-progress:0'], starts: 'F', errors: ['0:Z:EPERM', '2:Z:EPERM', '3:R:EPERM', '6:R:EPERM'] }),
  },
];

describe.each(['contract', 'dw-edma'] as const)('channel state machine, quirks %s', (quirks) => {
  it.each(ROWS)('$sequence: $why', async (row) => {
    const ch = new ScriptedChannel(quirks);
    await ch.run(row.sequence);
    const want = row[quirks];
    expect(ch.statuses()).toEqual(want.statuses);
    expect(ch.startKinds()).toBe(want.starts);
    if (want.callbacks !== undefined) expect(brief(ch.callbacks)).toEqual(want.callbacks);
    if (want.settled !== undefined) expect(brief(ch.settled)).toEqual(want.settled);
    if (want.errors !== undefined) expect(ch.errors()).toEqual(want.errors);
    // The side's streams carry exactly the channel's callbacks.
    expect(brief(ch.sideEmits)).toEqual(brief(ch.callbacks));
  });

  it('u32 wrap: the residue after the first chunk is 4096 and the bytes are exact', async () => {
    const ch = new ScriptedChannel(quirks);
    await ch.run('G P[2147483648,2147483648,4096]');
    expect(ch.statuses()).toEqual([`1:in-progress:${quirks === 'dw-edma' ? 0 : 2 ** 32 + 4096}`]);
    await ch.run('I');
    expect(ch.statuses()).toEqual(['1:in-progress:4096']);
    expect(ch.hw.starts[0]).toEqual({ first: true, bytes: 2 ** 32, elements: 2 });
    await ch.run('D D');
    expect(ch.hw.starts[1]).toEqual({ first: quirks === 'dw-edma', bytes: 4096, elements: 1 });
    expect(ch.callbacks.map((c) => [c.cookie, c.result, c.residue, c.bytes])).toEqual([[1, 'ok', 0, 2 ** 32 + 4096]]);
  });

  it('interrupt: false: done and txStatus complete; no callback in the contract (dw-edma ignores the flag)', async () => {
    const ch = new ScriptedChannel(quirks);
    await ch.run('G');
    const quiet = ch.prep([3, 3], { interrupt: false });
    const loud = ch.prep([3]);
    await ch.run('I D D');
    expect(brief(ch.settled)).toEqual(['1:ok:0', '2:ok:0']);
    expect(ch.statuses()).toEqual(['1:complete:0', '2:complete:0']);
    expect(ch.callbacks.map((c) => c.cookie)).toEqual(quirks === 'dw-edma' ? [quiet, loud] : [loud]);
    expect(brief(ch.sideEmits)).toEqual(brief(ch.callbacks));
  });

  it('release frees everything without a callback, in flight and queued; the channel is idle afterwards', async () => {
    const ch = new ScriptedChannel(quirks);
    await ch.run('G P(4) P(2) I');
    const released = ch.handle.release();
    await ch.settle();
    await ch.run('D');
    await released;
    expect(ch.callbacks).toEqual([]);
    const reason = quirks === 'dw-edma' ? 'channel released' : 'terminated';
    expect(brief(ch.settled)).toEqual([`1:aborted:6:${reason}`, `2:aborted:6:${reason}`]);
    expect(ch.control.status()).toBe(0);
    expect(ch.handle.outstanding).toBe(0);
  });

  it('txStatus never goes back up while the worker takes a descriptor (named current, then consumed)', async () => {
    const ch = new ScriptedChannel(quirks);
    await ch.run('G');
    const cookie = ch.prep([3, 3, 3]);
    ch.handle.issuePending();
    // issuePending started the first chunk (2 of 3 segments) before the worker took anything.
    const started = 9 - 6;
    expect(ch.handle.txStatus(cookie)).toEqual({ status: 'in-progress', residue: started });
    // The worker's take(): current first (with the first chunk's residue), the ring entry
    // consumed after. Between the two, txStatus must not report the full size again.
    ch.control.setCurrent(cookie, started, true);
    expect(ch.handle.txStatus(cookie)).toEqual({ status: 'in-progress', residue: started });
    await ch.settle();
    expect(ch.handle.txStatus(cookie)).toEqual({ status: 'in-progress', residue: started });
    await ch.run('D D');
    expect(ch.handle.txStatus(cookie)).toEqual({ status: 'complete', residue: 0 });
    expect(brief(ch.settled)).toEqual([`${cookie}:ok:0`]);
  });

  it('pause right after issuePending: never EPERM over many descriptors, each resumes to completion', async () => {
    const ch = new ScriptedChannel(quirks);
    await ch.run('G');
    for (let i = 1; i <= 50; i++) {
      ch.prep([3, 3, 3]);
      await ch.run('IZ');
      expect(ch.errors()).toEqual([]);
      await ch.run('D');
      expect(ch.handle.txStatus(i)).toEqual({ status: 'paused', residue: 3 });
      await ch.run('R D');
      expect(ch.handle.txStatus(i)).toEqual({ status: 'complete', residue: 0 });
    }
    expect(ch.callbacks.map((c) => c.cookie)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(ch.startKinds()).toBe('FN'.repeat(50));
  });
});

describe('a terminate racing the worker at a chunk boundary (contract)', () => {
  // The main thread's terminateAsync stores the terminate word, then requests the STOP; the
  // worker reads both words at every chunk DONE. Here the terminate lands right after the k-th
  // read of either word (by anyone) while the worker handles the first chunk's DONE: whatever
  // k, the half-done descriptor ends terminated, without a callback, never as a bare STOP's
  // NOERROR completion.
  it('lands after any read of the state or terminate word: terminated, no callback', async () => {
    let positions = 0;
    for (let k = 1; ; k++) {
      const ch = new ScriptedChannel('contract');
      await ch.run('G P(4) I');
      const ctl = ch.control;
      const state = ctl.state.bind(ctl);
      const terminatePending = ctl.terminatePending.bind(ctl);
      let reads = 0;
      let landed = false;
      const afterRead = <T>(value: T): T => {
        if (!landed && ++reads === k) {
          landed = true;
          ch.handle.terminateAsync();
        }
        return value;
      };
      ctl.state = () => (landed ? state() : afterRead(state()));
      ctl.terminatePending = () => (landed ? terminatePending() : afterRead(terminatePending()));
      await ch.run('D');
      if (!landed) break;
      positions++;
      // Landed after the second chunk started: it takes effect at that chunk's DONE.
      if (ch.hw.running) await ch.run('D');
      expect(ch.callbacks, `terminate after read ${k}`).toEqual([]);
      expect(ch.settled.map((c) => [c.result, c.reason]), `terminate after read ${k}`).toEqual([['aborted', 'terminated']]);
      expect(ch.errors()).toEqual([]);
    }
    // The DONE's handling reads the words several times (hold check, request, terminate word).
    expect(positions).toBeGreaterThanOrEqual(3);
  });
});
