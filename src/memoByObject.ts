// A function of an object, computed once per object and kept while the object lives (a WeakMap):
// for values the hot path would otherwise rebuild on every review from objects that stay the same
// between reviews (the cluster's grants, a policy's webhook declarations).

export function memoByObject<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const values = new WeakMap<K, V>();
  return (key) => {
    if (values.has(key)) return values.get(key) as V;
    const value = compute(key);
    values.set(key, value);
    return value;
  };
}
