/** Cgroup paths as job targets and output filters take them. */

/** Longest cgroup path taken or kept (PATH_MAX). */
export const MAX_CGROUP_PATH = 4096;

/**
 * Why a cgroup path is not acceptable (as a job target or a filter), or undefined: absolute, at most 4096
 * bytes, no empty, "." or ".." components, no trailing slash (but "/"), no control characters.
 */
export function cgroupPathError(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute cgroup path (e.g. /system.slice/nginx.service)';
  if (Buffer.byteLength(path) > MAX_CGROUP_PATH) return `must be at most ${MAX_CGROUP_PATH} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'must not hold control characters';
  if (path === '/') return undefined;
  if (path.endsWith('/')) return 'must not end with /';
  if (path.slice(1).split('/').some((c) => c === '' || c === '.' || c === '..')) return 'must not hold empty, "." or ".." components';
  return undefined;
}
