// Node 20's `node --test <dir>` only runs files named test.js, *.test.js, test-*.js and the
// like, never *.spec.js; this file is how `node --test native/dist/` reaches every spec.
// `node --test native/dist/*.spec.js` runs them directly (one process per file).
import './layout.spec';
import './loader.spec';
import './memleak.spec';
import './profiler.spec';
import './ssl.spec';
import './symbolizer.spec';
import './target.spec';
import './target-tracers.spec';
import './usdt.spec';
