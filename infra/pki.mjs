// The fleet CA for `npm start` (run by infra/setup.sh after the build): makes .tracefleet/pki/ca.pem and
// ca.key (0600, in a 0700 directory) and names them in .env, unless the operator's own CA is given as
// TRACEFLEET_CA_CERT / TRACEFLEET_CA_KEY (in the environment or .env), which is then checked and kept.
// The controller issues its own server certificate from this CA at boot, and node certificates at enrollment.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readDotEnv } from './env.mjs';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;
const pki = require(join(root, 'packages/pki/dist/index.js'));
const envFile = join(root, '.env');
const dotenv = readDotEnv();
const say = (m) => console.log(`\x1b[1m[setup]\x1b[0m ${m}`);

function addToEnv(name, value) {
  const text = readFileSync(envFile, 'utf8');
  appendFileSync(envFile, `${text.endsWith('\n') || text === '' ? '' : '\n'}${name}=${value}\n`);
}

const dir = join(root, '.tracefleet', 'pki');
const ownCert = join(dir, 'ca.pem');
const ownKey = join(dir, 'ca.key');
let certFile = process.env.TRACEFLEET_CA_CERT || dotenv.TRACEFLEET_CA_CERT;
let keyFile = process.env.TRACEFLEET_CA_KEY || dotenv.TRACEFLEET_CA_KEY;
if (!certFile !== !keyFile) throw new Error('TRACEFLEET_CA_CERT and TRACEFLEET_CA_KEY go together');
// The set-up's own CA is made when missing (also when .env still names it after .tracefleet/ was removed);
// an operator's CA is never replaced.
if (!certFile || (certFile === ownCert && keyFile === ownKey)) {
  certFile = ownCert;
  keyFile = ownKey;
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    say(`creating the fleet CA in ${dir} (key 0600)`);
    pki.ensurePrivateDir(dir);
    const ca = await pki.createCa(`Tracefleet fleet CA (${new Date().toISOString().slice(0, 10)})`);
    pki.writePrivateFile(keyFile, ca.keyPem, 0o600);
    writeFileSync(certFile, ca.certPem, { mode: 0o644 });
  }
}
// Fails here, naming the file, rather than at the controller's boot.
try {
  pki.checkPrivateFile(keyFile);
  await pki.loadCa(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'));
} catch (err) {
  console.error(`\x1b[31m[setup] fleet CA (TRACEFLEET_CA_CERT=${certFile}, TRACEFLEET_CA_KEY=${keyFile}): ${err.message}\x1b[0m`);
  process.exit(1);
}
if (dotenv.TRACEFLEET_CA_CERT !== certFile) {
  say(`naming the fleet CA in .env: ${certFile}`);
  addToEnv('TRACEFLEET_CA_CERT', certFile);
  addToEnv('TRACEFLEET_CA_KEY', keyFile);
}
if (!dotenv.TRACEFLEET_ENROLL_ADDR) addToEnv('TRACEFLEET_ENROLL_ADDR', '127.0.0.1:50052');
