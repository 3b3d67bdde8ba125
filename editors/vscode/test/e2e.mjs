// End-to-end test of the packaged extension in a real VS Code: code-server with
// the .vsix installed, driven through headless Chromium by playwright-core.
//
//   WORKSPACE=<folder> VSIX=<fathom.vsix> FATHOM_SERVER=<fathom executable> \
//   SCREENSHOTS=<folder> node editors/vscode/test/e2e.mjs
//
// Opens the workspace, waits until the status bar says the index is current,
// runs "Fathom: Search" with a plain-English query, checks the right function
// is listed, selects it and checks the editor shows that file at that line;
// then "Fathom: Find Similar Code" there (into the Fathom Results view), Go to
// Symbol in Workspace, and "Fathom: Search in Side Bar": results grouped by file
// with kind icons, the next one previewed as the keys move, the focus kept in the
// list (screenshots of the view saved), and the quick pick's button that moves its
// results there. Last, the Fathom processes' CPU time over
// IDLE_SECONDS with VS Code attached and idle: nothing may poll.
// Prints one line per step and exits non-zero on failure (screenshot saved).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const codeServer = path.join(here, "node_modules", ".bin", "code-server");
const workspace = process.env.WORKSPACE;
const vsix = process.env.VSIX;
const screenshots = process.env.SCREENSHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), "fathom-e2e-shots-"));
const query = process.env.QUERY ?? "directory where the user's cache files are stored";
const expected = process.env.EXPECTED ?? "user_cache_dir";
const idleSeconds = Number(process.env.IDLE_SECONDS ?? 30);
// Read calls the idle server process may make in that time. Each request it gets is
// at least one read of its stdin, each look at the index a read of the file: a poll
// every 2 s would be 15 and more. A count, not CPU time, so that a busy machine
// does not fail it; the CPU time is reported beside it.
const idleReadLimit = Number(process.env.IDLE_READ_LIMIT ?? 5);

function log(line) {
  process.stdout.write(`${line}\n`);
}

// utime + stime of a process and all its descendants, in seconds (Linux /proc).
function treeCpuSeconds(root) {
  const children = new Map();
  const cpu = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / 100);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  let count = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    total += cpu.get(pid) ?? 0;
    count += 1;
    stack.push(...(children.get(pid) ?? []));
  }
  return { total, count };
}

// The read system calls a process (all its threads) has made: Linux /proc/PID/io.
function readCalls(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/io`, "utf8").match(/^syscr: (\d+)$/m)[1]);
}

function fathomServerPid(serverPath) {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args.includes("serve") && args.some((a) => a === serverPath || a.endsWith("/fathom"))) {
        return Number(entry);
      }
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

// A command run from the command palette, as a user would.
async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ timeout: 30000 });
  await input.fill(`>${title}`);
  // Exactly this title: "Fathom: Search" is also the start of "Fathom: Search in Side Bar".
  const exact = new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  const row = page.locator(".quick-input-list .monaco-list-row")
    .filter({ has: page.locator(".label-name", { hasText: exact }) }).first();
  await row.waitFor();
  await row.click();
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status < 500) {
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function main() {
  if (!workspace || !vsix) {
    throw new Error("set WORKSPACE and VSIX");
  }
  fs.mkdirSync(screenshots, { recursive: true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "fathom-e2e-"));
  const userData = path.join(home, "user-data");
  const extensions = path.join(home, "extensions");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify({
    "workbench.startupEditor": "none",
    "security.workspace.trust.enabled": false,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "workbench.tips.enabled": false,
    "fathom.serverPath": process.env.FATHOM_SERVER ?? "",
  }, null, 2));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, ".config") };

  const install = spawnSync(codeServer, ["--user-data-dir", userData, "--extensions-dir", extensions,
    "--install-extension", vsix], { env, encoding: "utf8" });
  if (install.status !== 0) {
    throw new Error(`installing the vsix failed: ${install.stdout}${install.stderr}`);
  }
  log("ok   the .vsix installs into code-server");

  const port = await freePort();
  const server = spawn(codeServer, ["--auth", "none", "--bind-addr", `127.0.0.1:${port}`, "--user-data-dir", userData,
    "--extensions-dir", extensions, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
    "--disable-getting-started-override", workspace], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let serverLog = "";
  server.stdout.on("data", (d) => { serverLog += d; });
  server.stderr.on("data", (d) => { serverLog += d; });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run", "--disable-sync", "--disable-quic"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  let step = "start";
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60000);
    step = "open the workspace";
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 120000 });
    log("ok   VS Code opens the workspace");

    step = "status bar shows the index is current";
    const item = page.locator(".statusbar-item", { hasText: "Fathom" });
    await item.first().waitFor({ timeout: 120000 });
    await item.locator(".codicon-check").first().waitFor({ timeout: 300000 });
    log("ok   the status bar shows Fathom, then the index as current");

    step = "run Fathom: Search";
    await page.locator(".monaco-workbench").click({ position: { x: 700, y: 400 } });
    const input = page.locator(".quick-input-widget input");
    await runCommand(page, "Fathom: Search");
    await page.locator(".quick-input-widget", { hasText: "Fathom Search" }).waitFor({ timeout: 30000 });
    await input.fill(query);
    const row = page.locator(".quick-input-list .monaco-list-row", { hasText: expected }).first();
    await row.waitFor({ timeout: 60000 });
    const description = await row.locator(".label-description").first().innerText();
    const chosenLabel = await row.locator(".label-name").first().innerText();
    const location = description.match(/^(\S+):(\d+)$/);
    if (!location) {
      throw new Error(`result row shows no path:line: ${description}`);
    }
    log(`ok   a plain-English search lists ${expected} (${location[1]}:${location[2]})`);

    step = "select the result";
    await row.click();
    const fileName = path.basename(location[1]);
    await page.locator(".tab.active", { hasText: fileName }).waitFor({ timeout: 30000 });
    const cursor = page.locator(".statusbar-item", { hasText: /Ln \d+, Col \d+/ }).first();
    await cursor.waitFor({ timeout: 30000 });
    const line = (await cursor.innerText()).match(/Ln (\d+)/)[1];
    if (line !== location[2]) {
      throw new Error(`editor is at line ${line}, expected ${location[2]}`);
    }
    await page.locator(".view-line", { hasText: `def ${expected}` }).first().waitFor({ timeout: 10000 });
    log(`ok   selecting it opens ${fileName} at line ${line}, showing def ${expected}`);

    step = "Fathom: Find Similar Code on the open definition";
    await runCommand(page, "Fathom: Find Similar Code");
    const view = page.locator('[id="workbench.view.extension.fathom"]');
    await view.locator(".monaco-list-row .codicon[class*='codicon-symbol-']").first().waitFor({ timeout: 60000 });
    const similarLabels = await view.locator(".monaco-list-row[aria-level='2'] .label-name").allInnerTexts();
    if (similarLabels.length === 0 || similarLabels.includes(chosenLabel)) {
      throw new Error(`similar code lists nothing, or the definition itself: ${similarLabels.join(", ")}`);
    }
    log(`ok   Find Similar Code lists definitions like ${chosenLabel} in the Fathom view, not itself (${similarLabels.slice(0, 2).join(", ")})`);
    await page.screenshot({ path: path.join(screenshots, "similar-view.png") });

    step = "workspace symbols in Go to Symbol in Workspace";
    await page.keyboard.press("F1");
    await input.waitFor({ timeout: 30000 });
    await input.fill("#usrcachedir");
    await page.locator(".quick-input-list .monaco-list-row", { hasText: expected }).first().waitFor({ timeout: 30000 });
    log(`ok   Go to Symbol in Workspace (#usrcachedir) lists ${expected}`);
    await page.keyboard.press("Escape");

    step = "Fathom: Search in Side Bar";
    await runCommand(page, "Fathom: Search in Side Bar");
    await page.locator(".quick-input-widget", { hasText: "Fathom: Search in Side Bar" }).waitFor({ timeout: 30000 });
    await input.fill(query);
    await page.keyboard.press("Enter");
    const hit = view.locator(".monaco-list-row", { hasText: expected }).first();
    await hit.waitFor({ timeout: 60000 });
    const fileRow = view.locator(".monaco-list-row", { hasText: fileName }).first();
    await fileRow.waitFor({ timeout: 10000 });
    if (await hit.locator(".codicon[class*='codicon-symbol-']").count() === 0) {
      throw new Error("the result row has no symbol kind icon");
    }
    const grouped = await view.locator(".monaco-list-row[aria-level='1']").count();
    const listed = await view.locator(".monaco-list-row[aria-level='2']").count();
    log(`ok   Search in Side Bar lists ${expected} under ${fileName}, with its kind icon (${listed} results in ${grouped} files)`);
    await page.screenshot({ path: path.join(screenshots, "results-view.png") });

    step = "step through the results (down, Enter): each one previewed, the focus kept in the list";
    // The view took the focus with its first result selected (not opened: nothing moved yet).
    const where = async () => `${(await page.locator(".tab.active").innerText()).trim()} ` +
      (await cursor.innerText()).match(/Ln \d+/)[0];
    const before = await where();
    let now = before;
    // The next result may be where the editor already is (the search above opened it): step on until one is not.
    for (let step = 0; step < 5 && now === before; step++) {
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("Enter");
      for (let i = 0; i < 12 && now === before; i++) {
        await page.waitForTimeout(250);
        now = await where();
      }
    }
    const inList = await page.evaluate(() => !!document.activeElement?.closest('[id="workbench.view.extension.fathom"]'));
    if (now === before || !inList) {
      throw new Error(`the next result was not previewed with the focus in the list (${before} -> ${now}, focus in list: ${inList})`);
    }
    log(`ok   down and Enter preview the next result (${before} -> ${now}), the focus kept in the list`);
    await page.screenshot({ path: path.join(screenshots, "results-preview.png") });

    step = "the Fathom: Search quick pick's button moves its results to the view";
    await runCommand(page, "Fathom: Clear Results");
    await view.locator(".monaco-list-row").first().waitFor({ state: "detached", timeout: 10000 });
    await runCommand(page, "Fathom: Search");
    await page.locator(".quick-input-widget", { hasText: "Fathom Search" }).waitFor({ timeout: 30000 });
    await input.fill(query);
    await page.locator(".quick-input-list .monaco-list-row", { hasText: expected }).first().waitFor({ timeout: 60000 });
    await page.locator(".quick-input-widget .codicon-list-tree").first().click();
    await view.locator(".monaco-list-row", { hasText: expected }).first().waitFor({ timeout: 30000 });
    log(`ok   the quick pick's button lists the same results (${expected} among them) in the Fathom view`);

    step = "idle with VS Code attached: nothing polls";
    const pid = fathomServerPid(process.env.FATHOM_SERVER ?? "");
    if (!pid) {
      throw new Error("the fathom server process was not found");
    }
    await page.waitForTimeout(3000); // the last requests' answers settle
    const start = treeCpuSeconds(pid);
    const readsBefore = readCalls(pid);
    await page.waitForTimeout(idleSeconds * 1000);
    const reads = readCalls(pid) - readsBefore;
    const end = treeCpuSeconds(pid);
    const used = end.total - start.total;
    if (reads > idleReadLimit) {
      throw new Error(`the idle server made ${reads} read calls in ${idleSeconds} s (${used.toFixed(2)} s CPU)`);
    }
    log(`ok   idle with VS Code attached: the server made ${reads} read calls in ${idleSeconds} s; ` +
      `${used.toFixed(2)} s CPU over ${end.count} Fathom processes`);
    await page.screenshot({ path: path.join(screenshots, "final.png") });
    log("11 passed, 0 failed");
  } catch (error) {
    const shot = path.join(screenshots, "failure.png");
    await page.screenshot({ path: shot }).catch(() => undefined);
    log(`FAIL ${step}: ${error.message}\nscreenshot: ${shot}\ncode-server log:\n${serverLog.slice(-4000)}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

main().catch((error) => {
  log(`FAIL ${error.message}`);
  process.exit(1);
});
