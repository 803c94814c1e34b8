// The inbox list's order: newest first by `createdAt`, each notification once (DESIGN §10).
// Frames, pages and rollbacks all place rows through these, so every tab orders alike.
import type { Notification } from "./contracts.js";

const time = (n: Notification): number => Date.parse(n.createdAt);

/** The list with `n` in it: replaced in place when known, else before the first row created
 * no later than it (newest first; ties: the later arrival first). */
export function upsert(list: readonly Notification[], n: Notification): readonly Notification[] {
  const at = list.findIndex((m) => m.id === n.id);
  if (at >= 0) return list.map((m, i) => (i === at ? n : m));
  const created = time(n);
  const before = list.findIndex((m) => time(m) <= created);
  return before < 0 ? [...list, n] : [...list.slice(0, before), n, ...list.slice(before)];
}

/** The list with `n` after every row created after it, unless already known (a next page). */
export function appendOlder(list: readonly Notification[], n: Notification): readonly Notification[] {
  if (list.some((m) => m.id === n.id)) return list;
  const created = time(n);
  const after = list.findIndex((m) => time(m) < created);
  return after < 0 ? [...list, n] : [...list.slice(0, after), n, ...list.slice(after)];
}

/** Whether `n` belongs in a list loaded down to its last row (any row when `complete`). */
export function withinLoaded(list: readonly Notification[], complete: boolean, n: Notification): boolean {
  const oldest = list[list.length - 1];
  return complete || oldest === undefined || time(n) >= time(oldest);
}
