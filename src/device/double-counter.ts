/**
 * Makes a counter field of `o` a double in V8's view from the start. A field that holds small
 * integers and then passes 2^31 changes representation, and that change deoptimizes every
 * function compiled against the object's shape: the channel workers' byte counters did so a
 * few seconds into a run of 64 KiB transfers, each worker's copy and completion path then
 * ran unoptimized while it was compiled again. Storing a fraction once settles the shape.
 */
export function doubleCounter<T extends Record<K, number>, K extends keyof T>(o: T, key: K): T {
  (o as Record<K, number>)[key] = 0.5;
  (o as Record<K, number>)[key] = 0;
  return o;
}
