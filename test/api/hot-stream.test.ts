/**
 * HotStream: the multicast of the completion streams, with a Subject's semantics for next,
 * complete, late subscribers and subscribers that come or go during an emission.
 */
import { describe, expect, it } from 'vitest';
import { take } from 'rxjs';
import { HotStream } from '../../dist/api/hot-stream.js';

describe('HotStream', () => {
  it('emits to every current subscriber in subscription order; observed follows the subscriptions', () => {
    const s = new HotStream<number>();
    expect(s.observed).toBe(false);
    const seen: string[] = [];
    const a = s.observable.subscribe((v) => seen.push(`a${v}`));
    s.next(1);
    const b = s.observable.subscribe((v) => seen.push(`b${v}`));
    expect(s.observed).toBe(true);
    s.next(2);
    a.unsubscribe();
    s.next(3);
    b.unsubscribe();
    expect(s.observed).toBe(false);
    s.next(4);
    expect(seen).toEqual(['a1', 'a2', 'b2', 'b3']);
  });

  it('a subscriber that leaves during an emission gets nothing more, one that joins starts with the next value', () => {
    const s = new HotStream<number>();
    const seen: string[] = [];
    let late: { unsubscribe(): void } | undefined;
    const first = s.observable.subscribe((v) => {
      seen.push(`first${v}`);
      if (v === 1) late = s.observable.subscribe((w) => seen.push(`late${w}`));
      if (v === 2) second.unsubscribe();
    });
    const second = s.observable.subscribe((v) => seen.push(`second${v}`));
    s.next(1);
    s.next(2);
    s.next(3);
    expect(seen).toEqual(['first1', 'second1', 'first2', 'late2', 'first3', 'late3']);
    first.unsubscribe();
    late!.unsubscribe();
  });

  it('works with operators that unsubscribe from inside next (take)', () => {
    const s = new HotStream<number>();
    const got: number[] = [];
    let completed = 0;
    s.observable.pipe(take(2)).subscribe({ next: (v) => got.push(v), complete: () => completed++ });
    for (let i = 1; i <= 5; i++) s.next(i);
    expect(got).toEqual([1, 2]);
    expect(completed).toBe(1);
    expect(s.observed).toBe(false);
  });

  it('complete() completes every subscriber once; later subscribers complete at once; next after it reaches nobody', () => {
    const s = new HotStream<number>();
    const events: string[] = [];
    s.observable.subscribe({ next: (v) => events.push(`n${v}`), complete: () => events.push('c1') });
    s.observable.subscribe({ complete: () => events.push('c2') });
    s.complete();
    s.complete();
    s.next(9);
    s.observable.subscribe({ next: () => events.push('late next'), complete: () => events.push('c3') });
    expect(events).toEqual(['c1', 'c2', 'c3']);
    expect(s.observed).toBe(false);
  });
});
