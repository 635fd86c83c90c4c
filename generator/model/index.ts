export * from './issue.js';
export * from './site.js';
export * from './catalog.js';
export * from './plan.js';
export * from './ports.js';
export * from './ospkg.js';
export * from './public-hosts.js';
export * from './running.js';
