// Finding the server: fathom.serverPath, then `fathom` on PATH, then `python3 -m fathom`.
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface ServerCommand {
  command: string;
  args: string[];
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function findServer(serverPath: string | undefined): Promise<ServerCommand | undefined> {
  if (serverPath && serverPath.trim()) {
    return { command: serverPath.trim(), args: ["serve"] };
  }
  const fathom = onPath(process.platform === "win32" ? "fathom.exe" : "fathom");
  if (fathom) {
    return { command: fathom, args: ["serve"] };
  }
  const python = process.platform === "win32" ? "python" : "python3";
  // Asynchronous: importing a Python package can take seconds, and the
  // extension host must not stop for it.
  const found = await new Promise<boolean>((resolve) => {
    execFile(python, ["-c", "import fathom"], { timeout: 15000 }, (error) => resolve(!error));
  });
  return found ? { command: python, args: ["-m", "fathom", "serve"] } : undefined;
}
