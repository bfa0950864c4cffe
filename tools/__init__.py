"""What an agent sees: the MCP tools, their results and errors, the prompt, and MCP logging."""
