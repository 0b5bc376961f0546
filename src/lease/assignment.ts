/**
 * Which replica should hold which community, computed by every replica alike from the
 * set of live replicas alone, so that they agree without talking to each other. Each
 * community ranks the replicas by a hash of both (rendezvous hashing); communities go to
 * their best-ranked replica with room, the strongest preferences first, and every
 * replica has room for `floor(C / R)` or one more. The spread is even (max - min <= 1),
 * and a join or a leave moves little more than the communities that must move: those
 * the newcomer ranks best, or those of the replica that left.
 * @module
 */

/** FNV-1a of a string, 32 bits. */
function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A 32-bit mix (murmur3's finaliser) of a replica's hash and a community. */
function score(replica: number, groupId: number): number {
  let h = (replica ^ Math.imul(groupId, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The replica (instance id) assigned to each community; empty when no replica is live. */
export function assign(
  communities: readonly number[],
  replicas: readonly string[],
): Map<number, string> {
  const ids = [...new Set(replicas)].sort();
  const groups = [...new Set(communities)];
  const result = new Map<number, string>();
  if (ids.length === 0) return result;
  const hashes = ids.map(hashText);
  const pairs: [score: number, group: number, replica: number][] = [];
  for (const g of groups) ids.forEach((_, r) => pairs.push([score(hashes[r]!, g), g, r]));
  pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
  const counts = ids.map(() => 0);
  const base = Math.floor(groups.length / ids.length);
  // Everyone gets `base` first; the few left over (fewer than R) take one more each.
  for (const room of [base, base + 1]) {
    for (const [, g, r] of pairs) {
      if (result.has(g) || counts[r]! >= room) continue;
      result.set(g, ids[r]!);
      counts[r]!++;
    }
  }
  return result;
}
