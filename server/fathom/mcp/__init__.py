"""The MCP door: Fathom's search as tools for coding agents (`fathom mcp`)."""
