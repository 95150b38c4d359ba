// nginx for the benchmarks (ssl: HTTPS, one worker; unwind: plain HTTP, two workers): Debian's
// packages installed when missing, and a config that keeps everything inside one scratch folder.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Installs the named binaries' Debian packages (same names) when missing; the tests do not need them. */
export function ensureDebianTools(names) {
  const missing = names.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
  if (!missing.length) return;
  console.log(`[bench] installing ${missing.join(', ')} from Debian's packages`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-q'], ['install', '-y', '-q', ...missing]]) {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed: ${r.stderr}`);
  }
  if (!missing.includes('nginx')) return;
  // No nginx could run before the binary existed: any running now was started by the package's scripts.
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'nginx') process.kill(Number(d), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Writes dir/nginx.conf serving dir/html on 127.0.0.1:port and returns its path. `files` maps names
 * to contents under html/; `tls` adds a self-signed certificate; `workers` 0 runs the master alone.
 */
export function writeNginxConfig(dir, port, { files, tls = false, workers = 1 }) {
  mkdirSync(join(dir, 'html'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, 'html', name), body);
  if (tls) {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl req: ${r.stderr}`);
  }
  const tmp = join(dir, 'tmp');
  const processes = workers === 0 ? 'master_process off;\nworker_processes 1;' : `user root;\nworker_processes ${workers};`;
  const listen = tls ? `listen 127.0.0.1:${port} ssl;\n    ssl_certificate ${dir}/cert.pem;\n    ssl_certificate_key ${dir}/key.pem;` : `listen 127.0.0.1:${port};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
${processes}
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server {
    ${listen}
    keepalive_requests 10000000;
    root ${dir}/html;
  }
}
`,
  );
  return join(dir, 'nginx.conf');
}
