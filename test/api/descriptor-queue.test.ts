/**
 * DescriptorQueue against an array model: any sequence of pushes, shifts, removals in the
 * middle, lookups and moves leaves the same entries in the same order, through growth and
 * many wraps of its slots.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DescriptorQueue } from '../../dist/api/descriptor-queue.js';

interface Item { readonly cookie: number }

type Op =
  | { op: 'push'; n: number }
  | { op: 'shift' }
  | { op: 'removeAt'; at: number }
  | { op: 'find'; at: number }
  | { op: 'move' };

const ops = fc.array(fc.oneof(
  fc.record({ op: fc.constant('push' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('shift' as const) }),
  fc.record({ op: fc.constant('removeAt' as const), at: fc.nat(60) }),
  fc.record({ op: fc.constant('find' as const), at: fc.nat(60) }),
  fc.record({ op: fc.constant('move' as const) }),
), { maxLength: 200 });

function contents(q: DescriptorQueue<Item>): number[] {
  const out: number[] = [];
  for (let i = 0; i < q.length; i++) out.push(q.at(i)!.cookie);
  return out;
}

describe('DescriptorQueue', () => {
  it('matches an array model for any sequence of operations (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), ops, (capacity, script: Op[]) => {
      const q = new DescriptorQueue<Item>(capacity);
      const other = new DescriptorQueue<Item>(1);
      let model: number[] = [];
      let otherModel: number[] = [];
      let cookie = 1;
      for (const s of script) {
        if (s.op === 'push') {
          for (let i = 0; i < s.n; i++) {
            q.push({ cookie });
            model.push(cookie++);
          }
        } else if (s.op === 'shift') {
          expect(q.shift()?.cookie).toBe(model.shift());
        } else if (s.op === 'removeAt') {
          if (model.length === 0) continue;
          const at = s.at % model.length;
          expect(q.removeAt(at).cookie).toBe(model[at]);
          model.splice(at, 1);
        } else if (s.op === 'find') {
          const wanted = s.at % (cookie + 1);
          expect(q.indexOfCookie(wanted)).toBe(model.indexOf(wanted));
        } else {
          q.moveAllTo(other);
          otherModel = [...otherModel, ...model];
          model = [];
        }
        expect(q.length).toBe(model.length);
        expect(contents(q)).toEqual(model);
        expect(q.at(model.length)).toBeUndefined();
      }
      expect(contents(other)).toEqual(otherModel);
    }));
  });

  it('keeps order through thousands of wraps of a small queue', () => {
    const q = new DescriptorQueue<Item>(4);
    let next = 1;
    let expected = 1;
    for (let round = 0; round < 5000; round++) {
      q.push({ cookie: next++ });
      q.push({ cookie: next++ });
      expect(q.shift()!.cookie).toBe(expected++);
      if (q.length > 3) expect(q.shift()!.cookie).toBe(expected++);
    }
    while (q.length > 0) expect(q.shift()!.cookie).toBe(expected++);
    expect(expected).toBe(next);
    expect(q.shift()).toBeUndefined();
  });
});
