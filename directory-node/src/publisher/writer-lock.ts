// One publisher writes a directory at a time. Locally that is a lock file created with O_EXCL
// holding the owner's pid (taken over only if that process is gone); in Kubernetes the
// operator elects the writer with a Lease and provides its own WriterLock.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

export interface WriterLock {
  /** Resolves once this process is the writer; rejects if it cannot become one. */
  acquire(): Promise<void>;
  /** Whether this process still holds the lock (checked before every epoch). */
  held(): boolean;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileWriterLock implements WriterLock {
  private readonly path: string;
  private owned = false;
  constructor(path: string) {
    this.path = path;
  }

  async acquire(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        this.owned = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = Number.parseInt(readFileSync(this.path, 'utf8'), 10);
        if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
          throw new Error(`directory is locked by writer process ${owner} (${this.path})`);
        }
        unlinkSync(this.path);
      }
    }
    throw new Error(`could not take the writer lock ${this.path}`);
  }

  held(): boolean {
    if (!this.owned) return false;
    try {
      return Number.parseInt(readFileSync(this.path, 'utf8'), 10) === process.pid;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.held()) unlinkSync(this.path);
    this.owned = false;
  }
}
