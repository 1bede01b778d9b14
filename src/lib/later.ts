// A result that arrives later, boxed so that async functions do not flatten it: the backup walk
// returns "every entry is submitted" now and "the folder's tree id" later.
export interface Later<T> {
  later: Promise<T>;
}

export function later<T>(promise: Promise<T>): Later<T> {
  promise.catch(() => {}); // observed by whoever awaits `later`; avoids an early unhandled rejection
  return { later: promise };
}

export function now<T>(value: T): Later<T> {
  return { later: Promise.resolve(value) };
}
