"""lbtui: the command line, the Textual dashboard and the headless log.

Everything here turns engine snapshots (``virnucpro_bridge.control.snapshot``) into
something a person reads, and a person's keys into engine commands.
"""

from virnucpro_bridge import __version__

__all__ = ["__version__"]
