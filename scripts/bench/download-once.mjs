// One download by kubeseed's HTTP client into `part`, hashed as gen fetch does; used by fetch.mjs
// so that ours, like curl, runs as a fresh process per measurement.
import { HttpClient } from '../../dist/generator/fetch/http.js';

const [url, part, expected] = process.argv.slice(2);
const http = new HttpClient({ env: {}, timeoutMs: 30_000, retries: 0, backoffMs: 100 });
const r = await http.download(url, part, { algorithms: ['sha256'] });
await http.close();
if (r.digests.sha256 !== expected) {
  console.error(`digest ${r.digests.sha256}, expected ${expected}`);
  process.exit(1);
}
