/** A value that components can watch: the API key, the status announcements, the live events. */
import { useEffect, useState } from 'preact/hooks';

export class Store<T> {
  #value: T;
  readonly #listeners = new Set<(value: T) => void>();

  constructor(value: T) {
    this.#value = value;
  }

  get(): T {
    return this.#value;
  }

  set(value: T): void {
    this.#value = value;
    for (const l of [...this.#listeners]) l(value);
  }

  subscribe(listener: (value: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The store's value, re-rendering the component when it changes. */
export function useStore<T>(store: Store<T>): T {
  const [value, setValue] = useState(store.get());
  useEffect(() => {
    setValue(store.get());
    return store.subscribe(setValue);
  }, [store]);
  return value;
}

/** What the aria-live region says next: status changes a screen reader should hear. */
export const announcement = new Store('');

export function announce(text: string): void {
  // The same text twice in a row would not be read again; a change of whitespace makes it new.
  announcement.set(announcement.get() === text ? `${text}\u00a0` : text);
}
