/**
 * SDT argument strings ("-4@%edi 8@-16(%rbp)") and "provider:probe" specs: the text parts of USDT
 * discovery, apart from the ELF reading in stapsdt.ts (which re-exports them).
 */

export interface UsdtArg {
  raw: string;
  size: number;
  signed: boolean;
  /** e.g. register "%rdi", memory "-4(%rbp)", constant "$5" */
  location: string;
  kind: 'register' | 'memory' | 'constant';
}

// ---- argument specs --------------------------------------------------------

const SIZED_ARG = /^(-?)(\d+)@(.+)$/;
const REGISTER = /^%[a-z][a-z0-9]*$/;
const CONSTANT = /^\$[-+]?(?:0x[0-9a-f]+|\d+|[A-Za-z_.][\w.]*(?:[-+](?:0x[0-9a-f]+|\d+))?)$/i;
// AT&T memory operand: [disp](%base[,%index[,scale]]) or (,%index,scale); disp may be
// a number, a symbol, or symbol+/-number, e.g. "-16(%rbp)", "8+foo(%rip)", "(%rax,%rbx,8)".
const DISP = String.raw`[-+]?(?:0x[0-9a-f]+|\d+|[A-Za-z_.][\w.$@]*)(?:[-+](?:0x[0-9a-f]+|\d+|[A-Za-z_.][\w.$@]*))*`;
const MEMORY = new RegExp(String.raw`^(?:${DISP})?\((?:%[a-z][a-z0-9]*)?(?:,(?:%[a-z][a-z0-9]*)?(?:,[1248])?)?\)$`, 'i');
const ABSOLUTE = new RegExp(String.raw`^${DISP}$`, 'i');

/**
 * Parses an SDT argument string, e.g. "-4@%edi 8@-16(%rbp) 4@$5 -8@8+foo(%rip)".
 * "N@" gives the size in bytes (1, 2, 4 or 8), a leading "-" that it is signed.
 * The size-less form of SDT v1 notes ("%rdi") is read as 8 bytes, unsigned.
 * Throws an Error naming the argument for anything else.
 */
export function parseUsdtArgs(spec: string): UsdtArg[] {
  const trimmed = spec.trim();
  if (trimmed === '') return [];
  return trimmed.split(/\s+/).map((raw, i) => parseOneArg(raw, i, spec));
}

function parseOneArg(raw: string, index: number, spec: string): UsdtArg {
  const bad = (why: string) => new Error(`invalid USDT argument #${index + 1} "${raw}" in "${spec}": ${why}`);
  let size = 8;
  let signed = false;
  let location = raw;
  const m = SIZED_ARG.exec(raw);
  if (m) {
    size = Number(m[2]);
    signed = m[1] === '-';
    location = m[3];
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
      throw bad(`size ${m[1]}${m[2]} is not one of 1, 2, 4, 8 (optionally negative for signed)`);
    }
  } else if (/^-?\d+[a-z]*@/i.test(raw)) {
    throw bad('unrecognised size prefix');
  }
  let kind: UsdtArg['kind'];
  if (location.startsWith('%')) {
    if (!REGISTER.test(location)) throw bad(`"${location}" is not a register name`);
    kind = 'register';
  } else if (location.startsWith('$')) {
    if (!CONSTANT.test(location)) throw bad(`"${location}" is not an immediate constant`);
    kind = 'constant';
  } else if (MEMORY.test(location) || ABSOLUTE.test(location)) {
    kind = 'memory';
  } else {
    throw bad(`"${location}" is not a register, memory operand or constant`);
  }
  return { raw, size, signed, location, kind };
}

// ---- probe specs -----------------------------------------------------------

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses "provider:probe" (both C identifiers); throws an Error explaining what is wrong otherwise. */
export function parseProbeSpec(spec: string): { provider: string; name: string } {
  if (typeof spec !== 'string') {
    throw new Error(`invalid USDT probe spec ${String(spec)}: expected a string "provider:probe"`);
  }
  const parts = spec.split(':');
  if (parts.length !== 2) {
    throw new Error(
      `invalid USDT probe spec "${spec}": expected exactly one ":" as in "provider:probe" (e.g. "python:gc__start"), found ${parts.length - 1}`,
    );
  }
  const [provider, name] = parts;
  if (!IDENT.test(provider)) {
    throw new Error(
      `invalid USDT probe spec "${spec}": provider "${provider}" must be an identifier ([A-Za-z_][A-Za-z0-9_]*)`,
    );
  }
  if (!IDENT.test(name)) {
    throw new Error(`invalid USDT probe spec "${spec}": probe name "${name}" must be an identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  }
  return { provider, name };
}
