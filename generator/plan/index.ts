export { buildPlan } from './plan.js';
export { RENDERED_FILES, type RenderedFileSpec } from './files.js';
export { mirrorFor, registryOf } from './images.js';
export { planOsPackages } from './ospkg.js';
