export { renderNode, UnsupportedError, type NodeInput } from './node.js';
export { nodeFacts, type NodeFacts } from './facts.js';
export { nodeFiles, type NodeFile } from './files.js';
export { noCloudSeed, nodeFilesList, type NoCloudSeed } from './cloudinit.js';
export { egressLint, type EgressFinding } from './egress.js';
