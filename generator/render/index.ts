export { renderNode, UnsupportedError, type NodeInput } from './node.js';
export { noCloudSeed, type NoCloudSeed } from './cloudinit.js';
export { createEngine, shq, type Engine, type TemplateSources } from './engine.js';
export { egressLint, type EgressFinding } from './egress.js';
