-- :checkhealth fathom — is the server there, which version, what its index holds.
local M = {}

local health = vim.health or require("health")
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local error = health.error or health.report_error
local info = health.info or health.report_info
local start = health.start or health.report_start

function M.check()
  start("Fathom")
  local fathom = require("fathom")
  local cmd = (fathom.config and fathom.config.cmd) or { "fathom", "serve" }
  if vim.fn.executable(cmd[1]) == 0 then
    error(string.format("'%s' is not executable", cmd[1]), {
      "Install Fathom from a checkout of its repository: python3 -m pip install torch==2.13.0 -e <checkout>",
      "or set cmd in require('fathom').setup({ cmd = { ... } })",
    })
    return
  end
  ok(string.format("server: %s", table.concat(cmd, " ")))
  if cmd[1]:match("fathom$") then
    local version = vim.fn.system({ cmd[1], "--version" })
    if vim.v.shell_error == 0 then
      ok("version: " .. vim.trim(version))
    end
  end
  if not fathom.config then
    warn("require('fathom').setup() has not run: the server is not started")
    return
  end
  info("workspace: " .. fathom.config.root_dir)
  local client = fathom.client()
  if not client then
    warn("the server is not running (:FathomRestart starts it)")
    return
  end
  local status
  fathom.request("fathom/status", {}, function(result) status = result end)
  vim.wait(5000, function() return status ~= nil end, 50)
  local ws = status and status.workspaces and status.workspaces[1]
  if not ws then
    warn("the server did not answer fathom/status within 5 s")
    return
  end
  ok(string.format("index: %s, %d files, %d chunks, %d waiting for vectors", ws.state, ws.files, ws.chunks,
    ws.pending))
  ok(string.format("model: %s (%s)", ws.model, ws.device or "not started"))
end

return M
