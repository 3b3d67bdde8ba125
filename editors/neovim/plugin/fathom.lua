-- The commands exist as soon as the plugin is on the runtimepath, so a plugin
-- manager can load Fathom lazily on them; the first use calls setup() with the
-- defaults when the user has not.
if vim.g.loaded_fathom then
  return
end
vim.g.loaded_fathom = true

local function ready()
  local fathom = require("fathom")
  if not fathom.config then
    fathom.setup({})
  end
  return require("fathom.commands")
end

vim.api.nvim_create_user_command("FathomSearch", function(args)
  ready().search(args.args, args.bang)
end, { nargs = "*", bang = true, desc = "Fathom: semantic search (! fills the quickfix list)" })
vim.api.nvim_create_user_command("FathomSimilar", function(args)
  ready().similar(args.line1, args.line2, args.range > 0, args.bang)
end, { range = true, bang = true, desc = "Fathom: code like this definition, or like the selected lines" })
vim.api.nvim_create_user_command("FathomStatus", function()
  ready().status()
end, { desc = "Fathom: index status" })
vim.api.nvim_create_user_command("FathomReindex", function(args)
  ready().reindex(args.bang)
end, { bang = true, desc = "Fathom: reindex the workspace (! reads and chunks every file again)" })
vim.api.nvim_create_user_command("FathomRestart", function()
  ready()
  require("fathom").restart()
end, { desc = "Fathom: restart the server" })
