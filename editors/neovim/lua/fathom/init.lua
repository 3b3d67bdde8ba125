-- Fathom for Neovim: starts `fathom serve` on Neovim's built-in LSP client and
-- adds semantic search. Works on Neovim 0.7 and later.
local M = {}

local defaults = {
  cmd = { "fathom", "serve" },
  root_dir = nil, -- default: the nearest directory holding .git, else the cwd
  -- A buffer outside every workspace but inside a git repository (a `.git`
  -- directory, or a worktree's `.git` file) adds that repository as a workspace
  -- folder of the one server; false keeps the one root.
  per_buffer_roots = true,
  settings = {}, -- sent as initializationOptions and answered to workspace/configuration
  limit = 30,
  -- nil: test code ranks below the project's own unless the query asks for tests;
  -- true: ranked as any code; false: left out. A search's opts.include_tests wins.
  include_tests = nil,
  -- Indexing progress as messages (vim.notify): on 0.10+ progress otherwise only
  -- reaches vim.lsp.status(). false when a progress UI (fidget.nvim, lualine) shows it.
  progress = true,
}

M.config = nil
M.client_id = nil

local has_011 = vim.fn.has("nvim-0.11") == 1
local has_010 = vim.fn.has("nvim-0.10") == 1

-- The nearest directory at or above `dir` holding `.git` (a directory, or the
-- file a worktree or submodule has), or nil.
local function git_root(dir)
  local git = vim.fn.finddir(".git", dir .. ";")
  local file = vim.fn.findfile(".git", dir .. ";")
  local found = {}
  for _, hit in ipairs({ git, file }) do
    if hit ~= "" then
      found[#found + 1] = vim.fn.fnamemodify(hit, ":p"):gsub("/$", ""):gsub("/%.git$", "")
    end
  end
  table.sort(found, function(a, b) return #a > #b end) -- the deepest wins
  return found[1]
end

local function find_root()
  return git_root(vim.fn.getcwd()) or vim.fn.getcwd()
end

local function notify(message, level)
  vim.schedule(function()
    vim.notify("fathom: " .. message, level or vim.log.levels.INFO)
  end)
end

-- Client methods are called with ':' from 0.11 on; '.' still works before it.
local function client_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.client()
  if not M.client_id then
    return nil
  end
  return vim.lsp.get_client_by_id(M.client_id)
end

-- Every workspace folder of the server: the first root, then those buffers added.
M.roots = {}

local function inside(name, root)
  return name == root or name:sub(1, #root + 1) == root .. "/"
end

local function file_of(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" or vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  return vim.fn.fnamemodify(name, ":p")
end

local function under_a_root(name)
  for _, root in ipairs(M.roots) do
    if inside(name, root) then
      return true
    end
  end
  return false
end

local function notify_client(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

-- Tell the running server about one more workspace folder (once initialized).
local function add_root(root)
  M.roots[#M.roots + 1] = root
  local folder = { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ":t") }
  M.when_ready(function(client)
    client.workspace_folders = client.workspace_folders or {}
    table.insert(client.workspace_folders, folder)
    notify_client(client, "workspace/didChangeWorkspaceFolders", { event = { added = { folder }, removed = {} } })
  end)
end

local function attach(bufnr)
  if not M.client_id or not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  local name = file_of(bufnr)
  if not name then
    return
  end
  if not under_a_root(name) and M.config.per_buffer_roots then
    local root = git_root(vim.fn.fnamemodify(name, ":h"))
    if root then
      add_root(root)
    end
  end
  if under_a_root(name) then
    vim.lsp.buf_attach_client(bufnr, M.client_id)
  end
end

-- Neovim 0.10+ turns $/progress into the LspProgress event and vim.lsp.status();
-- on older versions the plugin says it itself, once per begin and end.
local function progress_handler(default)
  return function(err, result, ctx, config)
    if default then
      default(err, result, ctx, config)
    end
    local value = result and result.value
    if type(value) == "table" and (value.kind == "begin" or value.kind == "end") then
      local text = value.kind == "begin" and (value.title or "indexing") or ("done: " .. (value.message or "idle"))
      vim.api.nvim_echo({ { "fathom: " .. text } }, false, {})
    end
  end
end

local function start()
  local config = M.config
  local client_config = {
    name = "fathom",
    cmd = config.cmd,
    root_dir = config.root_dir,
    workspace_folders = vim.tbl_map(function(root)
      return { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ":t") }
    end, M.roots),
    init_options = config.settings,
    settings = { fathom = config.settings },
    handlers = {},
    on_init = function(client)
      -- Requests made while the server started wait here, not in a polling loop.
      local waiting = M.waiting
      M.waiting = {}
      for _, fn in ipairs(waiting) do
        vim.schedule(function() fn(client) end)
      end
    end,
    on_exit = function(code, signal)
      if code ~= 0 then
        notify(string.format("server exited (code %d, signal %d); :FathomRestart starts it again", code, signal),
          vim.log.levels.WARN)
      end
      M.client_id = nil
    end,
  }
  client_config.handlers["workspace/configuration"] = function(_, params)
    local answers = {}
    for i, item in ipairs(params.items or {}) do
      answers[i] = (item.section == nil or item.section == "fathom") and config.settings or vim.NIL
    end
    return answers
  end
  if not has_010 then
    client_config.handlers["$/progress"] = progress_handler(vim.lsp.handlers["$/progress"])
  end
  if vim.fn.executable(config.cmd[1]) == 0 then
    notify(string.format("'%s' not found: install Fathom from a checkout of its repository "
      .. "(python3 -m pip install torch==2.13.0 -e <checkout>; it is not on PyPI yet) or set cmd in setup()",
      config.cmd[1]), vim.log.levels.ERROR)
    return
  end
  if has_011 then
    M.client_id = vim.lsp.start(client_config, { attach = false })
  else
    M.client_id = vim.lsp.start_client(client_config)
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      attach(bufnr)
    end
  end
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", {}, defaults, opts or {})
  M.config.root_dir = vim.fn.fnamemodify(M.config.root_dir or find_root(), ":p"):gsub("/$", "")
  M.roots = { M.config.root_dir }
  local group = vim.api.nvim_create_augroup("fathom", { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    callback = function(args)
      attach(args.buf)
    end,
  })
  if has_010 and M.config.progress then
    vim.api.nvim_create_autocmd("LspProgress", {
      group = group,
      pattern = { "begin", "end" },
      callback = function(args)
        local data = args.data or {}
        local value = data.params and data.params.value
        if data.client_id ~= M.client_id or type(value) ~= "table" then
          return
        end
        notify(value.kind == "begin" and (value.title or "indexing") or ("done: " .. (value.message or "idle")))
      end,
    })
  end
  require("fathom.commands").create()
  start()
end

function M.restart()
  local client = M.client()
  if client then
    if has_011 then client:stop() else client.stop() end
  end
  M.client_id = nil
  start()
end

-- Calls fn(client) once the client has finished initializing (its on_init runs
-- what waits); gives up after `timeout` ms (default 60 s) rather than failing
-- while the server starts.
M.waiting = {}
local function with_client(fn, timeout)
  local client = M.client()
  if client and client.initialized then
    fn(client)
    return
  end
  if not M.config or not M.client_id then
    notify("no Fathom server is running (call require('fathom').setup())", vim.log.levels.ERROR)
    return
  end
  local done = false
  M.waiting[#M.waiting + 1] = function(ready)
    if not done then
      done = true
      fn(ready)
    end
  end
  vim.defer_fn(function()
    if not done then
      done = true
      notify("the Fathom server did not start within " .. math.floor((timeout or 60000) / 1000) .. " s",
        vim.log.levels.ERROR)
    end
  end, timeout or 60000)
end

-- A request answered with {results, partial}: callback(results, response),
-- or ({}, nil) after saying what failed.
local function results_request(method, params, what, callback, timeout)
  with_client(function(client)
    client_request(client, method, params, function(err, result)
      if err then
        notify(what .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
        callback({}, nil)
        return
      end
      callback(result.results or {}, result)
    end, 0)
  end, timeout)
end

-- Sends fathom/search and calls callback(results, response); results is the
-- list of items ({uri, path, range, name, kind, score, snippet}).
M.when_ready = function(fn) with_client(fn) end

function M.search(query, opts, callback)
  opts = opts or {}
  local params = { query = query, limit = opts.limit or M.config.limit }
  if opts.paths then
    params.paths = opts.paths
  end
  local include_tests = opts.include_tests
  if include_tests == nil then
    include_tests = M.config.include_tests
  end
  if include_tests ~= nil then
    params.includeTests = include_tests
  end
  results_request("fathom/search", params, "search", callback, opts.timeout)
end

-- fathom/similar: `params` is { textDocument = {uri}, position = {line, character} }
-- or { text = "…" }; the callback gets (results, response) as search's does.
function M.similar(params, callback, opts)
  opts = opts or {}
  params.limit = params.limit or opts.limit or M.config.limit
  results_request("fathom/similar", params, "find similar", callback, opts.timeout)
end

function M.request(method, params, callback)
  with_client(function(client)
    client_request(client, method, params, function(err, result)
      if err then
        notify(method .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
        return
      end
      if callback then
        callback(result)
      end
    end, 0)
  end)
end

return M
