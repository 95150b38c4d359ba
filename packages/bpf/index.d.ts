/** Absolute path of the directory holding the compiled `<probe>.bpf.o` objects. */
export declare const buildDir: string;
/** Absolute path of `build/<name>.bpf.o`; throws naming the file and the build command when missing. */
export declare function objectPath(name: string): string;
