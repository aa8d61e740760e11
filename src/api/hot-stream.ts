import { Observable, type Subscriber } from 'rxjs';

/**
 * A hot multicast stream for the completion data path: what an RxJS `Subject` does for
 * `next`/`complete`, without its per-emission cost. `Subject.next` (rxjs 7, the CommonJS build
 * Node loads) allocates a closure for its error context and an iterator over its observers on
 * every value; here an emission is an indexed loop over the current subscribers, and `observed`
 * lets the producer skip building a value nobody will see.
 *
 * Subscribers are kept copy-on-write (subscribe and unsubscribe are rare), so one that
 * unsubscribes during an emission is skipped by RxJS (its Subscriber is closed) and one that
 * subscribes during an emission starts with the next value, as with a Subject. An error thrown
 * by a subscriber's `next` goes where RxJS sends it for a Subject's subscriber (reported
 * asynchronously), and the other subscribers still get the value.
 */
export class HotStream<T> {
  private subscribers: readonly Subscriber<T>[] = [];
  private completed = false;

  readonly observable: Observable<T> = new Observable<T>((subscriber) => {
    if (this.completed) {
      subscriber.complete();
      return undefined;
    }
    this.subscribers = [...this.subscribers, subscriber];
    return () => {
      this.subscribers = this.subscribers.filter((s) => s !== subscriber);
    };
  });

  /** True while anything is subscribed. */
  get observed(): boolean {
    return this.subscribers.length > 0;
  }

  next(value: T): void {
    const subscribers = this.subscribers;
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.next(value);
  }

  /** Completes every subscriber; later subscribers complete at once. Idempotent. */
  complete(): void {
    if (this.completed) return;
    this.completed = true;
    const subscribers = this.subscribers;
    this.subscribers = [];
    for (const s of subscribers) s.complete();
  }
}
