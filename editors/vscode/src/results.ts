// The Fathom results view: a search's or a find-similar's hits as a tree grouped
// by file, in the order the server ranked them (a file where its best hit ranks),
// each hit with its kind's icon, its container and name, and its signature; a
// chosen hit opens in the preview editor with the focus left in the list, so that
// stepping through the results does not fill the tabs or leave the list.
import * as path from "path";
import * as vscode from "vscode";
import { SearchResult, lineOf } from "./protocol";

export interface FileNode {
  kind: "file";
  uri: vscode.Uri;
  path: string;
  results: ResultNode[];
}

export interface ResultNode {
  kind: "result";
  result: SearchResult;
  parent: FileNode;
}

export type Node = FileNode | ResultNode;

export function groupByFile(results: SearchResult[]): FileNode[] {
  const files = new Map<string, FileNode>();
  for (const result of results) {
    let file = files.get(result.path);
    if (!file) {
      file = { kind: "file", uri: vscode.Uri.parse(result.uri), path: result.path, results: [] };
      files.set(result.path, file);
    }
    file.results.push({ kind: "result", result, parent: file });
  }
  return [...files.values()];
}

// "TypeParameter" -> "symbol-type-parameter", the product icon of that symbol kind.
export function kindIcon(kind: string): vscode.ThemeIcon {
  const name = kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
  return new vscode.ThemeIcon(name ? `symbol-${name}` : "symbol-misc");
}

export function signatureOf(result: SearchResult): string {
  return result.snippet.split("\n").find((line) => line.trim() !== "")?.trim() ?? "";
}

export function labelOf(result: SearchResult): string {
  return result.container ? `${result.container}.${result.name}` : result.name || "(block)";
}

export class ResultsProvider implements vscode.TreeDataProvider<Node> {
  private files: FileNode[] = [];
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  show(results: SearchResult[]): FileNode[] {
    this.files = groupByFile(results);
    this.changed.fire(undefined);
    return this.files;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === "file") {
      const item = new vscode.TreeItem(node.uri, vscode.TreeItemCollapsibleState.Expanded);
      item.label = path.posix.basename(node.path);
      const folder = path.posix.dirname(node.path);
      item.description = folder === "." ? "" : folder;
      item.tooltip = node.path;
      item.contextValue = "fathomFile";
      return item;
    }
    const { result } = node;
    const item = new vscode.TreeItem(labelOf(result), vscode.TreeItemCollapsibleState.None);
    item.description = `${lineOf(result)}  ${signatureOf(result)}`;
    item.iconPath = kindIcon(result.kind);
    const tooltip = new vscode.MarkdownString(`**${labelOf(result)}** · ${result.kind} · ${result.path}:${lineOf(result)}` +
      ` · score ${result.score.toFixed(3)}\n\n`);
    tooltip.appendCodeblock(result.snippet, languageOf(result.path));
    item.tooltip = tooltip;
    item.contextValue = "fathomResult";
    // A click or Enter shows it in the preview editor and leaves the focus in the
    // list, so that ↓ Enter ↓ Enter steps through the results.
    item.command = { command: "fathom.openResult", title: "Open", arguments: [result, true] };
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      return this.files;
    }
    return node.kind === "file" ? node.results : [];
  }

  getParent(node: Node): Node | undefined {
    return node.kind === "result" ? node.parent : undefined;
  }
}

const LANGUAGES: Record<string, string> = {
  ".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript",
  ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".h": "c",
  ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".lua": "lua",
  ".kt": "kotlin", ".scala": "scala", ".swift": "swift", ".sh": "shellscript", ".cu": "cuda-cpp", ".cuh": "cuda-cpp",
  ".sol": "solidity", ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".m": "objective-c", ".mm": "objective-cpp",
  ".zig": "zig", ".proto": "proto3", ".tf": "terraform", ".jl": "julia", ".r": "r", ".R": "r",
  ".sql": "sql", ".pl": "perl", ".pm": "perl", ".hs": "haskell", ".ml": "ocaml",
};

function languageOf(file: string): string {
  return LANGUAGES[path.posix.extname(file)] ?? "";
}

// In the preview editor, as VS Code's Search view opens matches: browsing results does not fill the tabs.
export async function openResult(result: SearchResult, keepFocus: boolean): Promise<void> {
  const start = result.range.start;
  await vscode.window.showTextDocument(vscode.Uri.parse(result.uri), {
    selection: new vscode.Range(start.line, start.character, start.line, start.character),
    preview: true,
    preserveFocus: keepFocus,
  });
}
