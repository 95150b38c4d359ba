import * as fs from 'node:fs';

/** A block device's name on this node ("sda", "loop3") from /sys/dev/block/MAJ:MIN/uevent (DEVNAME), or undefined. */
export function diskName(major: number, minor: number, sys = '/sys'): string | undefined {
  try {
    const text = fs.readFileSync(`${sys}/dev/block/${major}:${minor}/uevent`, 'utf8');
    const m = /^DEVNAME=(.+)$/m.exec(text);
    return m ? m[1].trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The kernel's dev_t (major << 20 | minor, as biolatency.bpf.c keys disks) of a whole disk named `name`, from /sys/class/block/<name>/dev. */
export function diskDev(name: string, sys = '/sys'): { major: number; minor: number; dev: number } | undefined {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.')) return undefined;
  try {
    const m = /^(\d+):(\d+)\s*$/.exec(fs.readFileSync(`${sys}/class/block/${name}/dev`, 'utf8'));
    if (!m) return undefined;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    return { major, minor, dev: major * 2 ** 20 + minor };
  } catch {
    return undefined;
  }
}
