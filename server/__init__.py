"""wan-video-mcp's engine and wiring (installed as ``wan_video_mcp.server``).

``__version__`` is the distribution's version, written once: pyproject.toml reads it from here
(``[tool.setuptools.dynamic]``), so start-up need not scan the installed distributions for it.
"""

__version__ = "0.1.0"
