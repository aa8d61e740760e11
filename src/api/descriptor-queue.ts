/**
 * A channel's descriptors in submission order (a DMAengine virt-dma list): a circular array
 * whose capacity is a power of two, grown by doubling when full and never shrunk, so steady
 * traffic pushes and shifts without allocating (the `Array.splice`/`Map` it replaces allocated
 * per descriptor). Removal is at the head except on rare paths (a record that does not answer
 * the oldest descriptor), which `removeAt` handles by moving the later entries down.
 */
export class DescriptorQueue<T extends { readonly cookie: number }> {
  private items: (T | undefined)[];
  private mask: number;
  private first = 0;
  private count = 0;

  constructor(capacity = 64) {
    let c = 1;
    while (c < capacity) c <<= 1;
    this.items = new Array<T | undefined>(c).fill(undefined);
    this.mask = c - 1;
  }

  get length(): number {
    return this.count;
  }

  /** The i-th oldest (0: the head); undefined past the end. */
  at(i: number): T | undefined {
    return i < this.count ? this.items[(this.first + i) & this.mask] : undefined;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.first + this.count) & this.mask] = item;
    this.count++;
  }

  /** Removes and returns the oldest. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.first];
    this.items[this.first] = undefined;
    this.first = (this.first + 1) & this.mask;
    this.count--;
    return item;
  }

  /** Index of the entry with `cookie` (the head is checked first), or -1. */
  indexOfCookie(cookie: number): number {
    for (let i = 0; i < this.count; i++) {
      if (this.items[(this.first + i) & this.mask]!.cookie === cookie) return i;
    }
    return -1;
  }

  /** Removes the i-th oldest, keeping the order of the rest. */
  removeAt(i: number): T {
    const item = this.items[(this.first + i) & this.mask]!;
    for (let k = i; k < this.count - 1; k++) {
      this.items[(this.first + k) & this.mask] = this.items[(this.first + k + 1) & this.mask];
    }
    this.items[(this.first + this.count - 1) & this.mask] = undefined;
    this.count--;
    return item;
  }

  /** Appends every entry to `to`, oldest first, and empties this queue. */
  moveAllTo(to: DescriptorQueue<T>): void {
    while (this.count > 0) to.push(this.shift()!);
  }

  private grow(): void {
    const size = this.items.length * 2;
    const items = new Array<T | undefined>(size).fill(undefined);
    for (let i = 0; i < this.count; i++) items[i] = this.items[(this.first + i) & this.mask];
    this.items = items;
    this.mask = size - 1;
    this.first = 0;
  }
}
