export { buildPlan } from './plan.js';
export { mirrorFor, registryOf } from './images.js';
export { planOsPackages } from './ospkg.js';
