/** The agent's one ELF reader (elf-file.ts), its function symbols (symbols.ts) and notes (notes.ts). */
export * from './elf-file';
export * from './notes';
export * from './symbols';
