/**
 * The channel name and direction rule (reference 6.6), once for every place that names a
 * channel: checked against the values the per-file copies it replaced produced.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_KINDS, channelDirection, channelIdentity, channelKindFor, channelName, kindAbbreviation,
} from '../../dist/device/direction.js';

/** side, kind -> direction and name prefix, as testbed.ts, endpoint-process.ts and remote-chip.ts wrote them. */
const TABLE = [
  { side: 'endpoint', kind: 'write', direction: 'mem-to-dev', prefix: 'endpoint/wr' },
  { side: 'endpoint', kind: 'read', direction: 'dev-to-mem', prefix: 'endpoint/rd' },
  { side: 'host', kind: 'write', direction: 'dev-to-mem', prefix: 'host/wr' },
  { side: 'host', kind: 'read', direction: 'mem-to-dev', prefix: 'host/rd' },
] as const;

describe('channel name and direction', () => {
  it.each(TABLE)('$side $kind channels are $direction, named $prefix<n>', ({ side, kind, direction, prefix }) => {
    expect(channelDirection(side, kind)).toBe(direction);
    expect(channelKindFor(side, direction)).toBe(kind);
    for (let hw = 0; hw < 8; hw++) {
      expect(channelName(side, kind, hw)).toBe(`${prefix}${hw}`);
      expect(channelIdentity(side, kind, hw)).toEqual({ side, kind, hwChannel: hw, direction, name: `${prefix}${hw}` });
    }
  });

  it('property: every side x kind x channel gives the name and direction the old copies gave, and the kind back from the direction', () => {
    fc.assert(
      fc.property(fc.constantFrom('endpoint' as const, 'host' as const), fc.constantFrom(...CHANNEL_KINDS), fc.nat({ max: 255 }), (side, kind, hw) => {
        // The old testbed.ts channelInfo, verbatim in effect.
        const oldDirection = side === 'endpoint' ? (kind === 'write' ? 'mem-to-dev' : 'dev-to-mem') : kind === 'write' ? 'dev-to-mem' : 'mem-to-dev';
        const oldName = `${side}/${kind === 'write' ? 'wr' : 'rd'}${hw}`;
        // The old DmaDevice filter: a direction asks for the kind that moves data that way on this side.
        const oldKind = (side === 'host') === (oldDirection === 'dev-to-mem') ? 'write' : 'read';
        const id = channelIdentity(side, kind, hw);
        expect([id.direction, id.name]).toEqual([oldDirection, oldName]);
        expect(channelKindFor(side, id.direction)).toBe(oldKind);
        expect(oldKind).toBe(kind);
      }),
    );
  });

  it('the two sides see one kind in opposite directions', () => {
    for (const kind of CHANNEL_KINDS) expect(channelDirection('endpoint', kind)).not.toBe(channelDirection('host', kind));
  });

  it('kinds in dw-edma set-up order, abbreviated as configfs wr_chans / rd_chans', () => {
    expect(CHANNEL_KINDS).toEqual(['write', 'read']);
    expect(CHANNEL_KINDS.map(kindAbbreviation)).toEqual(['wr', 'rd']);
  });
});
