// `npm run bench`: every benchmark of the project, each printing its figures against a
// reference tool measured in the same run.
await import('./pki.mjs');
await import('./pack.mjs');
await import('./fetch.mjs');
await import('./ospkg.mjs');
