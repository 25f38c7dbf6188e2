export * from './queue.ts';
export * from './worker-queue.ts';
export * from './errors.ts';
export * from './events.ts';
