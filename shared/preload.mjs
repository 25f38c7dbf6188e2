/**
 * Loads the third-party packages every entry point reaches through shared/ (TypeBox for the
 * config, node-redis) with Node's own module loader, before tsx registers its hooks:
 *
 *   node --import ./shared/preload.mjs --import tsx scripts/load.ts
 *
 * Once tsx's hooks are registered, Node 20 sends every module it loads through them, on the
 * hooks' own thread, one message each way: about 1 ms a module, and TypeBox alone is some 700
 * modules, while tsx has nothing to compile in them. Loaded here first, they are in Node's module
 * map already when the TypeScript imports them, and only those few imports pass through tsx.
 * Plain JavaScript beside shared/src, so that the packages resolve to the same files as there.
 */
await Promise.all([import('typebox'), import('typebox/value'), import('redis')]);
