-- A Telescope picker for search results, used by :FathomSearch when Telescope is installed.
local M = {}

function M.available()
  return pcall(require, "telescope.pickers")
end

function M.show(results, query, partial)
  local pickers = require("telescope.pickers")
  local finders = require("telescope.finders")
  local conf = require("telescope.config").values
  local commands = require("fathom.commands")
  pickers.new({}, {
    prompt_title = "Fathom: " .. query .. (partial and " (partial)" or ""),
    finder = finders.new_table({
      results = results,
      entry_maker = function(item)
        return {
          value = item,
          display = commands.format_item(item),
          ordinal = item.name .. " " .. item.path,
          filename = vim.uri_to_fname(item.uri),
          lnum = item.range.start.line + 1,
          col = item.range.start.character + 1,
        }
      end,
    }),
    sorter = conf.generic_sorter({}),
    previewer = conf.grep_previewer({}),
  }):find()
end

return M
