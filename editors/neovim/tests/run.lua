-- Headless end-to-end tests of the plugin against the real server.
--
--   FATHOM_TEST_ROOT=<workspace> FATHOM_SERVER_CMD='["fathom","serve"]' \
--     nvim --headless -u NONE -i NONE --cmd 'set rtp^=editors/neovim' -c 'luafile editors/neovim/tests/run.lua'
--
-- The workspace holds copies of the pathspec and platformdirs packages. Prints one
-- line per test and a closing "N passed, M failed"; exits non-zero on failure.
local root = assert(os.getenv("FATHOM_TEST_ROOT"), "FATHOM_TEST_ROOT is not set")
local cmd = vim.fn.json_decode(os.getenv("FATHOM_SERVER_CMD") or '["fathom", "serve"]')
local has_010 = vim.fn.has("nvim-0.10") == 1

local passed, failed = 0, 0
local notified = {}
vim.notify = function(message)
  notified[#notified + 1] = message
end
local function out(line)
  io.stdout:write(line .. "\n")
  io.stdout:flush()
end

local function test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
    out("ok   " .. name)
  else
    failed = failed + 1
    out("FAIL " .. name .. "\n" .. tostring(err))
    out("  notifications so far: " .. vim.inspect(notified))
  end
end

local function wait_for(what, timeout_ms, condition)
  if not vim.wait(timeout_ms, condition, 50) then
    error("timed out after " .. timeout_ms .. " ms waiting for " .. what, 2)
  end
end

local function eq(expected, actual, what)
  if expected ~= actual then
    error(string.format("%s: expected %s, got %s", what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

-- Capture what the plugin shows, without a UI.
local progress_seen = {}
if has_010 then
  vim.api.nvim_create_autocmd("LspProgress", {
    callback = function(args)
      local value = args.data and args.data.params and args.data.params.value
      if type(value) == "table" then
        progress_seen[#progress_seen + 1] = value.kind .. ":" .. (value.title or value.message or "")
      end
    end,
  })
else
  local echo = vim.api.nvim_echo
  vim.api.nvim_echo = function(chunks, history, opts)
    local text = chunks[1] and chunks[1][1] or ""
    if text:match("^fathom: ") then
      progress_seen[#progress_seen + 1] = text
    end
    return echo(chunks, history, opts)
  end
end

local fathom = require("fathom")
local early_results

test("setup attaches to the buffer that is already open", function()
  vim.cmd("edit " .. vim.fn.fnameescape(root .. "/pathspec/util.py"))
  fathom.setup({ cmd = cmd, root_dir = root })
  -- Asked before the server is ready: must wait for it, not fail.
  fathom.search("directory where the user's cache files are stored", { limit = 5 }, function(results)
    early_results = results
  end)
  wait_for("the client to initialize", 120000, function()
    local client = fathom.client()
    return client ~= nil and client.initialized
  end)
  assert(vim.lsp.buf_is_attached(0, fathom.client_id), "current buffer not attached")
end)

test("a buffer opened later attaches too", function()
  vim.cmd("edit " .. vim.fn.fnameescape(root .. "/platformdirs/unix.py"))
  wait_for("attach", 5000, function()
    return vim.lsp.buf_is_attached(0, fathom.client_id)
  end)
end)

test("a search sent before the server was ready is answered", function()
  wait_for("the early search", 120000, function()
    return early_results ~= nil
  end)
  assert(#early_results > 0, "no results")
end)

test("indexing progress is visible", function()
  wait_for("progress", 120000, function()
    return #progress_seen > 0
  end)
  -- And shown by default, not only kept for vim.lsp.status() (0.10+) or echoed (older).
  if has_010 then
    wait_for("a progress message", 120000, function()
      for _, message in ipairs(notified) do
        if message:match("^fathom: ") and (message:match("index") or message:match("done")) then
          return true
        end
      end
      return false
    end)
  end
end)

test("the index becomes idle", function()
  local idle = false
  wait_for("fathom/status idle", 300000, function()
    fathom.request("fathom/status", {}, function(result)
      local ws = result.workspaces[1]
      idle = ws ~= nil and ws.state == "idle" and ws.pending == 0
    end)
    vim.wait(300, function() return idle end, 50)
    return idle
  end)
end)

test("search in plain English finds the right function", function()
  local results
  fathom.search("match a file path against gitignore patterns", { limit = 5 }, function(r)
    results = r
  end)
  wait_for("search results", 30000, function() return results ~= nil end)
  local names = {}
  for _, item in ipairs(results) do
    names[#names + 1] = item.name
    assert(item.uri:match("^file://"), "uri " .. tostring(item.uri))
    assert(item.range and item.range.start, "range")
    assert(type(item.score) == "number" and type(item.snippet) == "string", "score and snippet")
  end
  assert(vim.tbl_contains(names, "match_file"), "match_file not in top 5: " .. table.concat(names, ", "))
end)

test("workspace/symbol finds a symbol by fuzzy name", function()
  local symbols
  fathom.request("workspace/symbol", { query = "usrcachedir" }, function(r) symbols = r end)
  wait_for("workspace/symbol", 30000, function() return symbols ~= nil end)
  local names = {}
  for _, s in ipairs(symbols) do names[#names + 1] = s.name end
  assert(vim.tbl_contains(names, "user_cache_dir"), "got " .. table.concat(names, ", "))
end)

test(":FathomSearch! fills the quickfix list", function()
  vim.fn.setqflist({}, "r")
  vim.cmd("FathomSearch! directory where the user's cache files are stored")
  wait_for("quickfix items", 30000, function() return #vim.fn.getqflist() > 0 end)
  local found = false
  for _, item in ipairs(vim.fn.getqflist()) do
    local name = vim.api.nvim_buf_get_name(item.bufnr)
    found = found or (name:match("platformdirs/") ~= nil and item.text:match("user_cache_dir") ~= nil)
  end
  assert(found, "no platformdirs user_cache_dir entry: " .. vim.inspect(vim.fn.getqflist()))
  eq("Fathom: directory where the user's cache files are stored", vim.fn.getqflist({ title = 1 }).title, "title")
  vim.cmd("cclose")
end)

test(":FathomSearch shows a choice and jumps to it", function()
  local offered, chosen
  vim.ui.select = function(items, opts, on_choice)
    offered = items
    for _, item in ipairs(items) do
      if item.name == "normalize_file" then
        chosen = item
      end
    end
    assert(opts.format_item(items[1]):match(":%d+"), "format shows path:line")
    on_choice(chosen)
  end
  vim.cmd("FathomSearch normalize a file path to use forward slashes")
  wait_for("the picker", 30000, function() return offered ~= nil end)
  assert(chosen, "normalize_file not offered")
  eq(vim.uri_to_fname(chosen.uri), vim.api.nvim_buf_get_name(0), "buffer")
  eq(chosen.range.start.line + 1, vim.api.nvim_win_get_cursor(0)[1], "cursor line")
end)

test(":FathomSearch without a query asks for one", function()
  local asked
  vim.ui.input = function(opts, on_confirm)
    asked = opts.prompt
    on_confirm("")
  end
  vim.cmd("FathomSearch")
  eq("Fathom search: ", asked, "prompt")
end)

test(":FathomStatus reports the workspace", function()
  notified = {}
  vim.cmd("FathomStatus")
  wait_for("a status message", 10000, function() return #notified > 0 end)
  assert(notified[1]:match("idle") and notified[1]:match("files"), notified[1])
end)

test(":checkhealth fathom reports the server and the index", function()
  vim.cmd("checkhealth fathom")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  assert(text:match("server: ") and text:match("index: idle"), text)
  assert(not text:match("ERROR"), text)
  vim.cmd("bwipeout!")
end)

test("a search can leave test code out", function()
  local results
  require("fathom").search("match a file path against gitignore patterns", { limit = 5, include_tests = false },
    function(r) results = r end)
  wait_for("search results", 30000, function() return results ~= nil end)
  assert(#results > 0, "no results")
  for _, item in ipairs(results) do
    assert(type(item.container) == "string", "container " .. vim.inspect(item))
  end
end)

test(":FathomSimilar offers definitions like the one under the cursor, not itself", function()
  local util = root .. "/pathspec/util.py"
  vim.cmd("edit " .. vim.fn.fnameescape(util))
  local line = vim.fn.search("^def normalize_file(", "w")
  assert(line > 0, "normalize_file not found")
  vim.api.nvim_win_set_cursor(0, { line + 2, 0 })
  local offered
  vim.ui.select = function(items, _opts, on_choice)
    offered = items
    on_choice(nil)
  end
  vim.cmd("FathomSimilar")
  wait_for("the similar picker", 30000, function() return offered ~= nil end)
  assert(#offered > 0, "nothing offered")
  for _, item in ipairs(offered) do
    assert(not (item.name == "normalize_file" and item.path == "pathspec/util.py"), "offered itself")
  end
end)

test("a file of another git repository adds that repository as a workspace folder", function()
  local other = vim.fn.tempname() .. "-other-repo"
  vim.fn.mkdir(other .. "/pkg", "p")
  vim.fn.writefile({ "gitdir: /nonexistent/worktrees/other" }, other .. "/.git") -- a worktree's .git file
  vim.fn.writefile({ "def zebra_quaternion_helper(value):", "    return value" }, other .. "/pkg/zebra.py")
  vim.cmd("edit " .. vim.fn.fnameescape(other .. "/pkg/zebra.py"))
  wait_for("attach", 10000, function()
    return vim.lsp.buf_is_attached(0, fathom.client_id)
  end)
  local folders
  wait_for("two workspaces", 60000, function()
    fathom.request("fathom/status", {}, function(result) folders = result.workspaces end)
    vim.wait(300, function() return folders ~= nil and #folders == 2 end, 50)
    return folders ~= nil and #folders == 2
  end)
  local symbols
  wait_for("the other repository's symbol", 60000, function()
    symbols = nil
    fathom.request("workspace/symbol", { query = "zebra_quaternion_helper" }, function(r) symbols = r end)
    vim.wait(500, function() return symbols ~= nil end, 50)
    return symbols ~= nil and #symbols > 0
  end)
  eq("zebra_quaternion_helper", symbols[1].name, "symbol")
  assert(vim.uri_to_fname(symbols[1].location.uri):match("other%-repo/pkg/zebra%.py$"), vim.inspect(symbols[1]))
end)

out(string.format("%d passed, %d failed", passed, failed))
vim.cmd((failed == 0 and "qall!" or "cquit! 1"))
