// The shapes of Fathom's custom requests (see the server's fathom/search and fathom/status).
export interface Position {
  line: number;
  character: number;
}

export interface SearchResult {
  uri: string;
  path: string;
  range: { start: Position; end: Position };
  name: string;
  container: string;
  kind: string;
  score: number;
  snippet: string;
}

export interface SearchResponse {
  results: SearchResult[];
  partial: boolean;
  message?: string; // fathom/similar: why there is nothing to compare with
}

export interface WorkspaceStatus {
  root: string;
  state: "indexing" | "embedding" | "idle" | "error";
  files: number;
  chunks: number;
  pending: number;
  db: string;
  model: string;
  device: string;
  error?: string;
}

export interface StatusResponse {
  workspaces: WorkspaceStatus[];
}

export function lineOf(result: SearchResult): number {
  return result.range.start.line + 1;
}

// The folder's own name: the pop-up is one line, and the full path says little more.
function folderName(root: string): string {
  return root.replace(/[\\/]+$/, "").split(/[\\/]/).pop() || root;
}

export function formatStatus(status: StatusResponse): string {
  if (status.workspaces.length === 0) {
    return "no workspace open";
  }
  return status.workspaces
    .map((ws) => `${folderName(ws.root)}: ${ws.state}, ${ws.files} files, ${ws.chunks} chunks, ${ws.pending} pending, ` +
      `${ws.model} on ${ws.device}${ws.error ? `, error: ${ws.error}` : ""}`)
    .join("; ");
}
