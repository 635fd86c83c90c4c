export { renderNode, UnsupportedError, NODE_FILES_ARCHIVE, NODE_FILES_LIST, type NodeInput } from './node.js';
export { noCloudSeed, nodeFilesList, type NoCloudSeed } from './cloudinit.js';
export { createEngine, shq, type Engine, type TemplateSources } from './engine.js';
export { egressLint, type EgressFinding } from './egress.js';
