-- :FathomSearch[!] [query], :[range]FathomSimilar[!], :FathomStatus, :FathomReindex, :FathomRestart.
local M = {}

local function fathom()
  return require("fathom")
end

local function line_of(item)
  return item.range.start.line + 1
end

local function first_line(snippet)
  return ((snippet or ""):match("^%s*([^\n]*)") or "")
end

function M.format_item(item)
  return string.format("%s  %s:%d  %s", item.name ~= "" and item.name or "(block)", item.path, line_of(item),
    first_line(item.snippet))
end

function M.jump(item)
  vim.cmd("edit " .. vim.fn.fnameescape(vim.uri_to_fname(item.uri)))
  vim.api.nvim_win_set_cursor(0, { line_of(item), item.range.start.character })
  vim.cmd("normal! zz")
end

function M.to_quickfix(results, query)
  local items = {}
  for _, item in ipairs(results) do
    items[#items + 1] = {
      filename = vim.uri_to_fname(item.uri),
      lnum = line_of(item),
      col = item.range.start.character + 1,
      text = (item.name ~= "" and (item.name .. ": ") or "") .. first_line(item.snippet),
    }
  end
  vim.fn.setqflist({}, " ", { title = "Fathom: " .. query, items = items })
end

local function show(results, response, query, to_quickfix)
  if #results == 0 then
    vim.notify("fathom: nothing found for '" .. query .. "'", vim.log.levels.INFO)
    return
  end
  if to_quickfix then
    M.to_quickfix(results, query)
    vim.cmd("copen")
    return
  end
  local ok_telescope, picker = pcall(require, "fathom.telescope")
  if ok_telescope and picker.available() then
    picker.show(results, query, response and response.partial)
    return
  end
  local prompt = "Fathom: " .. query .. ((response and response.partial) and " (still embedding, partial)" or "")
  vim.ui.select(results, { prompt = prompt, format_item = M.format_item }, function(choice)
    if choice then
      M.jump(choice)
    end
  end)
end

function M.search(query, to_quickfix)
  local function run(q)
    if not q or vim.trim(q) == "" then
      return
    end
    fathom().search(q, {}, function(results, response)
      show(results, response, q, to_quickfix)
    end)
  end
  if query and query ~= "" then
    run(query)
  else
    vim.ui.input({ prompt = "Fathom search: " }, run)
  end
end

-- Definitions like the one under the cursor, or like the lines of a range
-- (a visual selection) when one is given.
function M.similar(line1, line2, ranged, to_quickfix)
  local params
  if ranged then
    local lines = vim.api.nvim_buf_get_lines(0, line1 - 1, line2, false)
    params = { text = table.concat(lines, "\n") }
  else
    local cursor = vim.api.nvim_win_get_cursor(0)
    params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = cursor[1] - 1, character = cursor[2] } }
  end
  local title = ranged and "code like the selection" or "code like this definition"
  fathom().similar(params, function(results, response)
    if response and response.message then
      vim.notify("fathom: " .. response.message, vim.log.levels.INFO)
      return
    end
    show(results, response, title, to_quickfix)
  end)
end

function M.status()
  fathom().request("fathom/status", {}, function(result)
    local lines = {}
    for _, ws in ipairs(result.workspaces or {}) do
      lines[#lines + 1] = string.format("%s: %s, %d files, %d chunks, %d pending, %s on %s%s", ws.root, ws.state,
        ws.files, ws.chunks, ws.pending, ws.model, ws.device, ws.error and (", error: " .. ws.error) or "")
    end
    vim.notify(#lines > 0 and table.concat(lines, "\n") or "fathom: no workspace open", vim.log.levels.INFO)
  end)
end

function M.reindex(full)
  fathom().request("fathom/reindex", { full = full or false }, function()
    vim.notify("fathom: reindexing", vim.log.levels.INFO)
  end)
end

function M.create()
  vim.api.nvim_create_user_command("FathomSearch", function(args)
    M.search(args.args, args.bang)
  end, { nargs = "*", bang = true, desc = "Fathom: semantic search (! fills the quickfix list)" })
  vim.api.nvim_create_user_command("FathomSimilar", function(args)
    M.similar(args.line1, args.line2, args.range > 0, args.bang)
  end, { range = true, bang = true, desc = "Fathom: code like this definition, or like the selected lines" })
  vim.api.nvim_create_user_command("FathomStatus", M.status, { desc = "Fathom: index status" })
  vim.api.nvim_create_user_command("FathomReindex", function(args)
    M.reindex(args.bang)
  end, { bang = true, desc = "Fathom: reindex the workspace (! reads and chunks every file again)" })
  vim.api.nvim_create_user_command("FathomRestart", function()
    fathom().restart()
  end, { desc = "Fathom: restart the server" })
end

return M
