// Fathom for VS Code: runs `fathom serve` for the open folders through
// vscode-languageclient and adds semantic search, reindex and status commands.
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  WorkDoneProgressBegin,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from "vscode-languageclient/node";
import { findServer, ServerCommand } from "./server";
import { SearchResponse, SearchResult, StatusResponse, formatStatus, lineOf } from "./protocol";
import { Node, ResultsProvider, labelOf, openResult, signatureOf } from "./results";

const MAX_RESTARTS = 3;
const SEARCH_DEBOUNCE_MS = 200;
// Only while the index is not current does the status bar ask again; an idle
// workspace costs nothing.
const BUSY_REFRESH_MS = 2000;
// A server that has run this long is healthy: later stops start the count again.
const HEALTHY_AFTER_MS = 60000;

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let restarts = 0;
let progressText: string | undefined;
let refreshTimer: NodeJS.Timeout | undefined;
let healthyTimer: NodeJS.Timeout | undefined;
const results = new ResultsProvider();
let resultsView: vscode.TreeView<Node>;
let lastQuery = "";

function refreshLater(): void {
  if (!refreshTimer) {
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      void refreshStatus();
    }, BUSY_REFRESH_MS);
  }
}

function settings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration("fathom");
  return {
    model: config.get<string>("model"),
    device: config.get<string>("device"),
    exclude: config.get<string[]>("exclude"),
    maxFileSize: config.get<number>("maxFileSize"),
    watcher: config.get<boolean>("watcher"),
    seedIndex: config.get<string>("seedIndex"),
    embedding: {
      url: config.get<string>("embedding.url"),
      model: config.get<string>("embedding.model"),
      concurrency: config.get<number>("embedding.concurrency"),
      batchSize: config.get<number>("embedding.batchSize"),
      maxTokens: config.get<number>("embedding.maxTokens"),
      tokenizer: config.get<string>("embedding.tokenizer"),
      workers: config.get<string | number>("embedding.workers"),
    },
  };
}

async function showServerMissing(detail: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(
    `Fathom: ${detail} Install it from a checkout of the Fathom repository with ` +
    `"python3 -m pip install torch==2.13.0 -e <checkout>" ` +
    `(it is not on PyPI yet), or set "fathom.serverPath".`,
    "Open Settings",
  );
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "fathom.serverPath");
  }
}

function setStatus(text: string, tooltip: string): void {
  statusItem.text = text;
  statusItem.tooltip = tooltip;
  statusItem.show();
}

async function refreshStatus(): Promise<void> {
  if (!client || client.state !== State.Running) {
    return;
  }
  if (progressText) {
    setStatus(`$(sync~spin) Fathom: ${progressText}`, "Fathom is indexing this workspace");
    return;
  }
  try {
    const status = await client.sendRequest<StatusResponse>("fathom/status", {});
    const pending = status.workspaces.reduce((n, ws) => n + ws.pending, 0);
    const failed = status.workspaces.find((ws) => ws.state === "error");
    if (failed) {
      setStatus("$(error) Fathom", `Indexing failed: ${failed.error ?? "unknown error"}`);
    } else if (pending > 0 || status.workspaces.some((ws) => ws.state !== "idle")) {
      setStatus(`$(sync~spin) Fathom: ${pending.toLocaleString()} chunks pending`, formatStatus(status));
      refreshLater();
    } else {
      setStatus("$(check) Fathom", formatStatus(status));
    }
  } catch {
    refreshLater(); // the server is restarting
  }
}

function onProgress(value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): void {
  if (value.kind === "end") {
    progressText = undefined;
  } else {
    const percent = value.percentage !== undefined ? ` ${value.percentage}%` : "";
    progressText = `${value.message ?? ("title" in value ? value.title : "indexing")}${percent}`;
  }
  void refreshStatus();
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const server: ServerCommand | undefined = await findServer(vscode.workspace.getConfiguration("fathom").get("serverPath"));
  if (!server) {
    setStatus("$(error) Fathom", "Fathom server not found");
    void showServerMissing("the Fathom server (fathom) was not found."); // activation does not wait on it
    return;
  }
  const serverOptions: ServerOptions = { command: server.command, args: server.args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }],
    initializationOptions: settings(),
    synchronize: { configurationSection: "fathom" },
    outputChannelName: "Fathom",
    middleware: {
      // The server reads files from disk and reindexes them on save: it needs
      // saves, not every open document and keystroke.
      didOpen: () => Promise.resolve(),
      didChange: () => Promise.resolve(),
      didClose: () => Promise.resolve(),
      // The status bar item is the one place progress shows: the client's own
      // progress item beside it would say the same thing twice.
      handleWorkDoneProgress: (_token, params) => {
        onProgress(params);
      },
    },
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue }),
      closed: () => {
        restarts += 1;
        if (restarts <= MAX_RESTARTS) {
          return { action: CloseAction.Restart, message: `Fathom server stopped; restarting (${restarts}/${MAX_RESTARTS})` };
        }
        void vscode.window.showErrorMessage(
          "Fathom: the server keeps stopping. See the Fathom output channel, then run \"Fathom: Restart Server\".",
          "Show Output",
        ).then((choice) => choice && client?.outputChannel.show());
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    },
  };
  client = new LanguageClient("fathom", "Fathom", serverOptions, clientOptions);
  client.onDidChangeState((change) => {
    if (healthyTimer) {
      clearTimeout(healthyTimer);
      healthyTimer = undefined;
    }
    if (change.newState === State.Running) {
      healthyTimer = setTimeout(() => { restarts = 0; }, HEALTHY_AFTER_MS);
    }
  });
  try {
    await client.start();
  } catch (error) {
    void showServerMissing(`the server "${server.command} ${server.args.join(" ")}" failed to start (${error}).`);
    return;
  }
  context.subscriptions.push(client);
  void refreshStatus();
}

async function search(): Promise<void> {
  if (!client || client.state !== State.Running) {
    void vscode.window.showWarningMessage("Fathom: the server is not running yet.");
    return;
  }
  const running = client;
  const pick = vscode.window.createQuickPick<vscode.QuickPickItem & { result?: SearchResponse["results"][number] }>();
  pick.title = "Fathom Search";
  pick.placeholder = "Describe what you are looking for, in plain words";
  pick.matchOnDescription = false;
  pick.matchOnDetail = false;
  const toSideBar: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon("list-tree"), tooltip: "Open in the Fathom Results view" };
  pick.buttons = [toSideBar];
  let shown: { query: string; response: SearchResponse } | undefined;
  pick.onDidTriggerButton(async () => {
    const query = pick.value.trim();
    pick.hide();
    if (query) {
      // The answer on screen if it is this query's; typed since, it is asked again.
      const response = shown?.query === query ? shown.response : await searchRequest(running, query);
      await showInView(`"${query}"`, response, query);
    }
  });
  let timer: NodeJS.Timeout | undefined;
  let sequence = 0;
  pick.onDidChangeValue((value) => {
    if (timer) {
      clearTimeout(timer);
    }
    const query = value.trim();
    if (!query) {
      pick.items = [];
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++sequence;
      pick.busy = true;
      try {
        const response = await searchRequest(running, query);
        if (mine !== sequence) {
          return; // a newer query is on its way
        }
        shown = { query, response };
        pick.title = response.partial ? "Fathom Search (still embedding: partial results)" : "Fathom Search";
        // alwaysShow: the server ranked these; the quick pick must not filter them by label.
        pick.items = response.results.map(toItem);
      } catch (error) {
        pick.title = `Fathom Search: ${error}`;
      } finally {
        if (mine === sequence) {
          pick.busy = false;
        }
      }
    }, SEARCH_DEBOUNCE_MS);
  });
  pick.onDidAccept(async () => {
    const chosen = pick.selectedItems[0]?.result;
    pick.hide();
    if (!chosen) {
      return;
    }
    const range = new vscode.Range(chosen.range.start.line, chosen.range.start.character,
      chosen.range.start.line, chosen.range.start.character);
    await vscode.window.showTextDocument(vscode.Uri.parse(chosen.uri), { selection: range });
  });
  pick.onDidHide(() => pick.dispose());
  pick.show();
}

function searchRequest(running: LanguageClient, query: string): Promise<SearchResponse> {
  const includeTests = vscode.workspace.getConfiguration("fathom").get<boolean | null>("includeTests", null);
  return running.sendRequest<SearchResponse>("fathom/search",
    includeTests === null || includeTests === undefined ? { query, limit: 50 } : { query, limit: 50, includeTests });
}

// "Fathom: Search in Side Bar": the answer as a tree in the Fathom Results view.
async function searchInView(): Promise<void> {
  if (!client || client.state !== State.Running) {
    void vscode.window.showWarningMessage("Fathom: the server is not running yet.");
    return;
  }
  const running = client;
  const query = (await vscode.window.showInputBox({
    title: "Fathom: Search in Side Bar",
    prompt: "Describe what you are looking for, in plain words",
    value: lastQuery,
  }))?.trim();
  if (!query) {
    return;
  }
  await vscode.window.withProgress({ location: { viewId: "fathom.results" } }, async () => {
    await showInView(`"${query}"`, await searchRequest(running, query), query);
  });
}

async function showInView(what: string, response: SearchResponse, query?: string): Promise<void> {
  if (query) {
    lastQuery = query;
  }
  const files = results.show(response.results);
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;
  resultsView.description = what;
  resultsView.message = response.results.length === 0
    ? `${response.message ?? "Nothing found"} for ${what}.`
    : `${plural(response.results.length, "result")} in ${plural(files.length, "file")}` +
      (response.partial ? " (still embedding: partial results)" : "");
  await vscode.commands.executeCommand("fathom.results.focus");
  const first = files[0]?.results[0];
  if (first) {
    await resultsView.reveal(first, { select: true, focus: true }); // selected, not opened: Enter opens it
  }
}

function toItem(result: SearchResult) {
  return {
    label: labelOf(result),
    description: `${result.path}:${lineOf(result)}`,
    detail: signatureOf(result),
    alwaysShow: true,
    result,
  };
}

// Definitions like the selected code, or like the definition under the cursor, in the results view.
async function findSimilar(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!client || client.state !== State.Running || !editor) {
    void vscode.window.showWarningMessage(editor ? "Fathom: the server is not running yet." : "Fathom: no editor is open.");
    return;
  }
  const selected = editor.document.getText(editor.selection);
  const params = selected.trim()
    ? { text: selected, limit: 30 }
    : { textDocument: { uri: editor.document.uri.toString() }, position: editor.selection.active, limit: 30 };
  const response = await client.sendRequest<SearchResponse>("fathom/similar", params);
  if (response.message || response.results.length === 0) {
    void vscode.window.showInformationMessage(`Fathom: ${response.message ?? "nothing similar found"}`);
    return;
  }
  const place = `${vscode.workspace.asRelativePath(editor.document.uri)}:${editor.selection.active.line + 1}`;
  await showInView(selected.trim() ? `like the selection in ${place}` : `like the definition at ${place}`, response);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  statusItem.command = "fathom.status";
  setStatus("$(sync~spin) Fathom", "Fathom is starting");
  resultsView = vscode.window.createTreeView("fathom.results", { treeDataProvider: results, showCollapseAll: true });
  context.subscriptions.push(
    statusItem,
    resultsView,
    vscode.commands.registerCommand("fathom.search", search),
    vscode.commands.registerCommand("fathom.searchInView", searchInView),
    vscode.commands.registerCommand("fathom.openResult", (result: SearchResult, keepFocus: boolean) => openResult(result, keepFocus)),
    vscode.commands.registerCommand("fathom.clearResults", () => {
      results.show([]);
      resultsView.description = undefined;
      resultsView.message = undefined;
    }),
    vscode.commands.registerCommand("fathom.findSimilar", findSimilar),
    vscode.commands.registerCommand("fathom.reindex", async () => {
      await client?.sendRequest("fathom/reindex", { full: false });
      void vscode.window.showInformationMessage("Fathom: reindexing the workspace");
    }),
    vscode.commands.registerCommand("fathom.status", async () => {
      if (!client || client.state !== State.Running) {
        void vscode.window.showWarningMessage("Fathom: the server is not running.");
        return;
      }
      const status = await client.sendRequest<StatusResponse>("fathom/status", {});
      void vscode.window.showInformationMessage(`Fathom: ${formatStatus(status)}`);
    }),
    vscode.commands.registerCommand("fathom.restart", async () => {
      restarts = 0;
      if (client) {
        await client.stop().catch(() => undefined);
        client = undefined;
      }
      await startClient(context);
    }),
  );
  context.subscriptions.push({
    dispose: () => {
      if (refreshTimer) clearTimeout(refreshTimer);
      if (healthyTimer) clearTimeout(healthyTimer);
    },
  });
  await startClient(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
