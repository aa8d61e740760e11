/**
 * The load test's source pattern, after drivers/dma/dmatest.c (section 9.2 of the kernel
 * reference): for window byte i and a per-pattern 32-bit `seed`,
 *
 *   count(i) = ~(i + seed) & 0x1f          inverted position counter
 *   byte(i)  = 0x80 | 0x40 | lap(i >> 5) << 5 | count(i)
 *
 * Bit 7 is set in every source byte, so no destination marker (poison, guard: bit 7 clear) can
 * ever pass for a copied byte. `lap(k)` is one bit per 32-byte lap, `(seed & 1) ^ hash(seed >>> 5,
 * k)`: it makes the pattern aperiodic (a copy displaced by a multiple of 32 bytes differs in half
 * of the laps) and flips on every lap between consecutive seeds. The counter alone detects any
 * displacement that is not a multiple of 32 and any seed that differs by less than 32.
 *
 * Patterns are made once per load test (not per transfer), in ordinary memory, with 32-bit stores.
 */
const PATTERN_HIGH = 0x80 | 0x40;
const PATTERN_LAP = 0x20;
const LAP_WORD = 0x20202020;
const COUNT_MASK = 0x1f;

const count = (seed: number, i: number): number => ~(i + seed) & COUNT_MASK;

/** murmur3 fmix32 of (seed high bits, lap index), one bit of it. */
function lapBit(seed: number, lap: number): number {
  let h = (Math.imul(seed >>> 5, 0x9e3779b1) ^ lap) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h ^ seed) & 1;
}

/** The byte a correct copy leaves at window position i. */
export function sourceByte(seed: number, i: number): number {
  seed >>>= 0;
  return PATTERN_HIGH | (lapBit(seed, i >> 5) ? PATTERN_LAP : 0) | count(seed, i);
}

/** The pattern for `seed`, `length` bytes, in ordinary (non-shared) memory. */
export function sourcePattern(seed: number, length: number): Buffer {
  seed >>>= 0;
  const words = new Uint32Array(Math.ceil(length / 4));
  const lap = new Uint32Array(8);
  const lapBytes = new Uint8Array(lap.buffer);
  for (let j = 0; j < 32; j++) lapBytes[j] = PATTERN_HIGH | count(seed, j);
  let lapMask = 0;
  for (let k = 0; k < words.length; k++) {
    if ((k & 7) === 0) lapMask = lapBit(seed, k >>> 3) ? LAP_WORD : 0;
    words[k] = lap[k & 7]! | lapMask;
  }
  return Buffer.from(words.buffer, 0, length);
}
