-- Neovim 0.11's `vim.lsp.config` / `vim.lsp.enable("fathom")`: the server alone,
-- with its root found per buffer (a worktree's `.git` file counts). Semantic
-- search (`:FathomSearch`) comes with require("fathom").setup().
return {
  cmd = { "fathom", "serve" },
  root_markers = { ".git" },
  settings = {},
}
